"""`hub audit witness`: another organisation keeps the hub's checkpoints and checks that
each new one extends the last it holds.

A pass fetches the latest checkpoint (GET /audit/checkpoint), verifies its signature with
the pinned verifier key, and, when the tree grew, fetches and verifies a consistency proof
from the last checkpoint held (GET /audit/consistency). Only then is the new checkpoint
kept, as a file of its own in the state directory. A wrong signature, a tree that shrank,
two roots for one size, or a failed proof are refused: nothing is kept, and the files
already held stay the evidence (`hub audit verify --checkpoint DIR` checks a database
against them).

State directory: ``key`` (the pinned verifier key) and ``checkpoint-<size>.txt`` per
checkpoint kept, written whole under a temporary name and then renamed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.audit import merkle
from hub.audit.note import MAX_NOTE, Checkpoint, NoteError, Verifier, open_checkpoint

KEY_FILE = "key"
_PREFIX, _SUFFIX = "checkpoint-", ".txt"
TIMEOUT_S = 10.0


class WitnessRefused(Exception):
    """The hub served something a witness must not accept."""


class WitnessUnavailable(Exception):
    """The check could not be made (the hub unreachable, an unexpected answer)."""


@dataclass(frozen=True)
class Outcome:
    checkpoint: Checkpoint
    previous: Checkpoint | None
    kept: bool  # a new checkpoint was kept (False: the tree has not grown since)


class WitnessState:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def pinned(self) -> str | None:
        path = self.dir / KEY_FILE
        return path.read_text().strip() if path.exists() else None

    def pin(self, vkey: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write(self.dir / KEY_FILE, vkey.strip() + "\n")

    def files(self) -> list[tuple[int, Path]]:
        if not self.dir.is_dir():
            return []
        out = []
        for path in self.dir.iterdir():
            name = path.name
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                digits = name[len(_PREFIX) : -len(_SUFFIX)]
                if digits.isdigit():
                    out.append((int(digits), path))
        return sorted(out)

    def notes(self) -> list[str]:
        return [path.read_text() for _, path in self.files()]

    def latest(self, verifier: Verifier) -> Checkpoint | None:
        files = self.files()
        if not files:
            return None
        size, path = files[-1]
        try:
            checkpoint = open_checkpoint(path.read_text(), verifier)
        except NoteError as exc:
            raise WitnessRefused(f"{path.name} in the state directory: {exc}") from None
        if checkpoint.size != size:
            raise WitnessRefused(f"{path.name} holds a checkpoint of size {checkpoint.size}")
        return checkpoint

    def keep(self, checkpoint: Checkpoint, note: str) -> None:
        path = self.dir / f"{_PREFIX}{checkpoint.size}{_SUFFIX}"
        if path.exists():
            if path.read_text() != note:
                raise WitnessRefused(f"a different checkpoint of size {checkpoint.size} is held")
            return
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write(path, note)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


async def _get(client: httpx.AsyncClient, url: str, **params: int) -> httpx.Response:
    try:
        response = await client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(f"{url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise WitnessUnavailable(f"{url}: HTTP {response.status_code}")
    if len(response.content) > MAX_NOTE:
        raise WitnessRefused(f"{url}: answer too large")
    return response


def _hashes(body: object) -> list[bytes]:
    if not isinstance(body, dict) or not isinstance(body.get("hashes"), list):
        raise WitnessRefused("malformed consistency proof")
    try:
        return [base64.b64decode(h, validate=True) for h in body["hashes"]]
    except (TypeError, ValueError, binascii.Error):
        raise WitnessRefused("malformed consistency proof") from None


async def witness_once(
    client: httpx.AsyncClient, base_url: str, state: WitnessState, verifier: Verifier
) -> Outcome:
    base = base_url.rstrip("/")
    note = (await _get(client, f"{base}/audit/checkpoint")).text
    try:
        checkpoint = open_checkpoint(note, verifier)
    except NoteError as exc:
        raise WitnessRefused(f"checkpoint refused: {exc}") from None
    previous = state.latest(verifier)
    if previous is not None:
        if checkpoint.size < previous.size:
            raise WitnessRefused(
                f"the tree shrank: size {checkpoint.size}, a witnessed checkpoint has "
                f"{previous.size}"
            )
        if checkpoint.size == previous.size:
            if checkpoint.root != previous.root:
                raise WitnessRefused(f"two different roots for tree size {checkpoint.size}")
            return Outcome(checkpoint, previous, kept=False)
        if previous.size > 0:
            response = await _get(
                client, f"{base}/audit/consistency", old=previous.size, new=checkpoint.size
            )
            try:
                body = response.json()
            except ValueError:
                raise WitnessRefused("malformed consistency proof") from None
            try:
                merkle.verify_consistency(
                    previous.size, checkpoint.size, _hashes(body), previous.root, checkpoint.root
                )
            except merkle.ProofError as exc:
                raise WitnessRefused(
                    f"size {checkpoint.size} is not consistent with the witnessed size "
                    f"{previous.size}: {exc}"
                ) from None
    state.keep(checkpoint, note)
    return Outcome(checkpoint, previous, kept=True)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
