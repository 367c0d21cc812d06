"""`hub audit verify|checkpoint|witness|prove`: the access log, checked from outside."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.commands.common import read_vkey, settings

if TYPE_CHECKING:
    from hub.audit.note import Verifier
    from hub.config import Settings


def _own_verifier(config: Settings) -> Verifier | None:
    """This hub's checkpoint verifier, when its key is in the secret dir (never created
    here: a verification must not mint a key)."""
    from hub.audit.note import KEY_FILE, Signer

    if not (config.secret_dir / KEY_FILE).exists():
        return None
    return Signer.from_secret_dir(config.secret_dir, config.audit_origin).verifier


def verify(args: argparse.Namespace) -> int:
    from hub.audit.note import NoteError, Verifier
    from hub.audit.verify import load_checkpoints, verify_log
    from hub.audit.witness import WitnessState
    from hub.db import Database

    config = settings()
    own = _own_verifier(config)
    notes: list[str] = []
    vkey: str | None = read_vkey(args.key) if args.key else None
    for given in args.checkpoint or []:
        path = Path(given)
        if path.is_dir():  # a witness's state directory: its checkpoints and pinned key
            state = WitnessState(path)
            notes += state.notes()
            vkey = vkey or state.pinned()
        elif path.is_file():
            notes.append(path.read_text())
        else:
            print(f"error: no checkpoint file or directory {given}", file=sys.stderr)
            return 2
    try:
        verifier = Verifier.parse(vkey) if vkey else own
        if notes and verifier is None:
            print("error: give --key: no verifier key to check the checkpoints", file=sys.stderr)
            return 2
        checkpoints = load_checkpoints(notes, verifier) if verifier is not None else []
    except NoteError as exc:
        print(f"error: checkpoint refused: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database(config.database_url)
        try:
            verdict = await verify_log(db, checkpoints, stored_verifier=own)
        finally:
            await db.dispose()
        against = f", {', '.join(verdict.notes)}" if verdict.notes else ""
        if verdict.ok:
            print(f"access log intact: {verdict.entries} entries{against}")
            return 0
        where = f"entry {verdict.first_bad_seq}"
        if verdict.last_bad_seq is not None:
            where += f" (somewhere in {verdict.first_bad_seq}..{verdict.last_bad_seq})"
        print(
            f"access log TAMPERED at {where}: {verdict.problem} "
            f"({verdict.entries} entries before it are intact{against})"
        )
        return 1

    return asyncio.run(run())


def checkpoint(_args: argparse.Namespace) -> int:
    from hub.audit.checkpoints import CheckpointError, sign_checkpoint
    from hub.audit.note import Signer
    from hub.db import Database

    config = settings()
    signer = Signer.from_secret_dir(config.secret_dir, config.audit_origin)

    async def run() -> int:
        db = Database(config.database_url)
        try:
            try:
                checkpoint, new = await sign_checkpoint(db, signer)
            except CheckpointError as exc:
                print(f"checkpoint refused: {exc}", file=sys.stderr)
                return 1
            if checkpoint is None:
                print("the access log is empty: nothing to sign", file=sys.stderr)
                return 0
            if config.kafka_bootstrap:
                from hub.connectors.checkpoints import CheckpointPublisher

                publisher = CheckpointPublisher(config)
                try:
                    await publisher.publish(db)
                finally:
                    await publisher.close()
            print(checkpoint.note, end="")
            if not new:
                print("(the tree has not grown since this checkpoint)", file=sys.stderr)
            return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def witness(args: argparse.Namespace) -> int:
    from hub.audit.note import NoteError, Verifier
    from hub.audit.witness import (
        WitnessRefused,
        WitnessState,
        WitnessUnavailable,
        client,
        witness_once,
    )

    state = WitnessState(Path(args.state))
    pinned = state.pinned()
    given = read_vkey(args.key) if args.key else None
    if given and pinned and given != pinned:
        print("error: the state directory pins a different key", file=sys.stderr)
        return 2
    vkey = given or pinned
    if vkey is None:
        print("error: pin the hub's verifier key with --key (get it out of band)", file=sys.stderr)
        return 2
    try:
        verifier = Verifier.parse(vkey)
    except NoteError as exc:
        print(f"error: --key: {exc}", file=sys.stderr)
        return 2
    if pinned is None:
        state.pin(str(verifier))
    if args.count < 1 or args.every < 0:
        print("error: --count must be at least 1, --every not negative", file=sys.stderr)
        return 2

    async def run() -> int:
        code = 0
        async with client() as http:
            for i in range(args.count):
                if i:
                    await asyncio.sleep(args.every)
                try:
                    outcome = await witness_once(http, args.url, state, verifier)
                except WitnessRefused as exc:
                    print(f"REFUSED: {exc}")
                    return 1
                except WitnessUnavailable as exc:
                    print(f"could not check: {exc}", file=sys.stderr)
                    code = 2
                    continue
                cp = outcome.checkpoint
                if outcome.kept:
                    was = f" (was {outcome.previous.size})" if outcome.previous else ""
                    print(f"kept checkpoint: tree size {cp.size}{was}")
                else:
                    print(f"unchanged: tree size {cp.size}")
        return code

    return asyncio.run(run())


def prove(args: argparse.Namespace) -> int:
    from hub.audit import merkle
    from hub.audit.note import NoteError, Verifier, open_checkpoint
    from hub.audit.proofs import ProveError, check_entry

    try:
        verifier = Verifier.parse(read_vkey(args.key))
        entry = json.loads(Path(args.entry).read_text())
        if isinstance(entry, dict) and isinstance(entry.get("node"), dict):
            entry = entry["node"]  # an edge of the connection
        proven = check_entry(entry, verifier)
        witnessed = (
            open_checkpoint(Path(args.checkpoint).read_text(), verifier)
            if args.checkpoint
            else proven.checkpoint
        )
    except (NoteError, ProveError, ValueError, OSError) as exc:
        print(f"NOT PROVEN: {exc}")
        return 1
    small, large = sorted((proven.checkpoint, witnessed), key=lambda c: c.size)
    if small.size == large.size and small.root != large.root:
        print(f"NOT PROVEN: two different roots for tree size {small.size}")
        return 1
    if small.size != large.size:
        if not args.url:
            print(
                f"NOT PROVEN: the proof is for tree size {proven.checkpoint.size}, the "
                f"checkpoint given has {witnessed.size}: give --url to check they agree"
            )
            return 1
        import base64

        import httpx

        try:
            r = httpx.get(
                f"{args.url.rstrip('/')}/audit/consistency",
                params={"old": small.size, "new": large.size},
                timeout=10.0,
            )
            r.raise_for_status()
            hashes = [base64.b64decode(h, validate=True) for h in r.json()["hashes"]]
            merkle.verify_consistency(small.size, large.size, hashes, small.root, large.root)
        except merkle.ProofError as exc:
            print(f"NOT PROVEN: the two checkpoints are not consistent: {exc}")
            return 1
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            print(f"could not check consistency: {type(exc).__name__}", file=sys.stderr)
            return 2
    print(
        f"proven: entry {proven.leaf_index + 1} is leaf {proven.leaf_index} of the log "
        f"{proven.checkpoint.origin}, under the signed tree of size {witnessed.size}"
    )
    return 0
