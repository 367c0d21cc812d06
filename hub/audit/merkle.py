"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, stored hashes and proofs.

A port of Go's golang.org/x/mod/sumdb/tlog (BSD licence), the checksum database's log:

- leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, the
  root of ``n`` leaves as in RFC 9162 §2.1.1 (the largest power of two below ``n`` splits);
- every hash of a complete subtree is stored once, at a dense linear position
  (`stored_hash_index`, after Crosby and Wallach): appending a leaf writes it and the
  subtrees it completes, about two hashes per leaf, and reads only the hashes of the
  right edge of the tree (`Frontier`);
- a tree root, an inclusion proof (RFC 9162 §2.1.3, "audit path") and a consistency proof
  (§2.1.4) each read O(log n) stored hashes. Generation runs in two steps so that storage
  can be asynchronous: `*_indexes` names the stored hashes needed, the caller fetches them
  in one statement, and the function proper computes from them.

Verification (`verify_inclusion`, `verify_consistency`) needs no storage: it recomputes the
root(s) a proof implies and compares. Sizes are leaf counts; indexes are 0-based.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of the empty tree (RFC 9162 §2.1.1)

HashReader = Callable[[Sequence[int]], Sequence[bytes]]


class ProofError(ValueError):
    """A proof, a size or an index that does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _maxpow2(n: int) -> tuple[int, int]:
    """(k, l): the largest power of two k = 2**l strictly smaller than n (n > 1)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


# --- stored hash positions ------------------------------------------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """The storage position of the n'th hash at `level` (level 0: leaves)."""
    # Level L's n'th hash is written right after level L+1's 2n+1'th hash.
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:  # level 0's n'th hash is at n + n/2 + n/4 + ...
        i += n
        n >>= 1
    return i + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The inverse of `stored_hash_index`: (level, n)."""
    n = index // 2
    index_n = stored_hash_index(0, n)
    if index_n > index:
        raise AssertionError("bad math in split_stored_hash_index")
    while True:
        # Leaf n adds 1 + (trailing zeros of n+1) hashes.
        x = index_n + 1 + ((n + 1) & -(n + 1)).bit_length() - 1
        if x > index:
            break
        n += 1
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of n leaves stores."""
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


# --- appending ----------------------------------------------------------------------------


def subtree_indexes(lo: int, hi: int) -> list[int]:
    """The stored hashes whose combination is the hash of leaves [lo, hi): the complete
    subtrees it splits into, largest (leftmost) first."""
    need = []
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        if lo & (k - 1):
            raise AssertionError("bad math in subtree_indexes")
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> bytes:
    """Consume the hashes named by subtree_indexes(lo, hi) from the front of `hashes`."""
    count = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        count += 1
        lo += k
    if len(hashes) < count:
        raise AssertionError("bad index math in _subtree_hash")
    h = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        h = node_hash(hashes[i], h)
    del hashes[:count]
    return h


class Frontier:
    """The right edge of a tree of `size` leaves: the hash of each complete subtree it
    splits into (one per set bit of `size`). Enough to append leaves and to compute the
    root, so an append reads at most log2(size) stored hashes."""

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        levels = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if len(hashes) != len(levels):
            raise ValueError("a frontier needs one hash per set bit of the size")
        self.size = size
        self._by_level = dict(zip(levels, hashes, strict=True))

    @staticmethod
    def indexes(size: int) -> list[int]:
        """The stored hashes that make up the frontier of `size` leaves."""
        return subtree_indexes(0, size)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        if len(blob) != HASH_SIZE * size.bit_count():
            raise ValueError("a frontier needs one hash per set bit of the size")
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])

    def to_bytes(self) -> bytes:
        """The hashes, largest subtree first (the order `indexes` names them in)."""
        return b"".join(self._by_level[level] for level in sorted(self._by_level, reverse=True))

    def append(self, leaf: bytes) -> list[tuple[int, bytes]]:
        """Add a leaf hash; returns the (stored index, hash) pairs to store."""
        n, h, level = self.size, leaf, 0
        out = [(stored_hash_index(0, n), h)]
        while n >> level & 1:
            h = node_hash(self._by_level.pop(level), h)
            level += 1
            out.append((stored_hash_index(level, n >> level), h))
        self._by_level[level] = h
        self.size += 1
        return out

    def root(self) -> bytes:
        if self.size == 0:
            return EMPTY_ROOT
        levels = sorted(self._by_level)  # lowest (rightmost) first
        h = self._by_level[levels[0]]
        for level in levels[1:]:
            h = node_hash(self._by_level[level], h)
        return h


# --- roots and proofs from stored hashes ----------------------------------------------------


def _read(read: HashReader, indexes: list[int]) -> list[bytes]:
    hashes = list(read(indexes)) if indexes else []
    if len(hashes) != len(indexes):
        raise ProofError(f"read {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def tree_hash_indexes(n: int) -> list[int]:
    return subtree_indexes(0, n)


def tree_hash(n: int, read: HashReader) -> bytes:
    """The root of the first n leaves."""
    if n < 0:
        raise ProofError("negative tree size")
    if n == 0:
        return EMPTY_ROOT
    return _subtree_hash(0, n, _read(read, tree_hash_indexes(n)))


def _leaf_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> None:
    if lo + 1 == hi:
        return
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_indexes(lo, lo + k, n, need)
        need += subtree_indexes(lo + k, hi)
    else:
        need += subtree_indexes(lo, lo + k)
        _leaf_proof_indexes(lo + k, hi, n, need)


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> list[bytes]:
    if lo + 1 == hi:
        return []  # the verifier knows the leaf hash
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        p = _leaf_proof(lo, lo + k, n, hashes)
        th = _subtree_hash(lo + k, hi, hashes)
    else:
        th = _subtree_hash(lo, lo + k, hashes)
        p = _leaf_proof(lo + k, hi, n, hashes)
    return [*p, th]


def inclusion_proof_indexes(index: int, size: int) -> list[int]:
    if not 0 <= index < size:
        raise ProofError("the leaf index must be below the tree size")
    need: list[int] = []
    _leaf_proof_indexes(0, size, index, need)
    return need


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves, leaf side first."""
    hashes = _read(read, inclusion_proof_indexes(index, size))
    proof = _leaf_proof(0, size, index, hashes)
    if hashes:
        raise AssertionError("bad index math in inclusion_proof")
    return proof


def _tree_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> None:
    if n == hi:
        if lo != 0:
            need += subtree_indexes(lo, hi)
        return
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_indexes(lo, lo + k, n, need)
        need += subtree_indexes(lo + k, hi)
    else:
        need += subtree_indexes(lo, lo + k)
        _tree_proof_indexes(lo + k, hi, n, need)


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> list[bytes]:
    if n == hi:
        # Common ground: the old tree itself (known to the verifier) or one of its subtrees.
        return [] if lo == 0 else [_subtree_hash(lo, hi, hashes)]
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        p = _tree_proof(lo, lo + k, n, hashes)
        th = _subtree_hash(lo + k, hi, hashes)
    else:
        th = _subtree_hash(lo, lo + k, hashes)
        p = _tree_proof(lo + k, hi, n, hashes)
    return [*p, th]


def consistency_proof_indexes(old: int, new: int) -> list[int]:
    if not 0 < old <= new:
        raise ProofError("consistency needs 0 < old size <= new size")
    need: list[int] = []
    _tree_proof_indexes(0, new, old, need)
    return need


def consistency_proof(old: int, new: int, read: HashReader) -> list[bytes]:
    """The proof that the tree of `new` leaves extends the tree of `old` leaves."""
    hashes = _read(read, consistency_proof_indexes(old, new))
    proof = _tree_proof(0, new, old, hashes)
    if hashes:
        raise AssertionError("bad index math in consistency_proof")
    return proof


def reader(stored: Mapping[int, bytes]) -> HashReader:
    """A HashReader over hashes already fetched; a missing one is a ProofError."""

    def read(indexes: Sequence[int]) -> list[bytes]:
        try:
            return [stored[i] for i in indexes]
        except KeyError as exc:
            raise ProofError(f"stored hash {exc.args[0]} is missing") from None

    return read


# --- verification -------------------------------------------------------------------------


def _run_inclusion(p: list[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    if lo + 1 == hi:
        if p:
            raise ProofError("inclusion proof too long")
        return leaf
    if not p:
        raise ProofError("inclusion proof too short")
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return node_hash(_run_inclusion(p[:-1], lo, lo + k, n, leaf), p[-1])
    return node_hash(p[-1], _run_inclusion(p[:-1], lo + k, hi, n, leaf))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError("the leaf index must be below the tree size")
    if len(leaf) != HASH_SIZE or any(len(h) != HASH_SIZE for h in proof):
        raise ProofError("hashes must be 32 bytes")
    return _run_inclusion(list(proof), 0, size, index, leaf)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` under `root`."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def _run_consistency(p: list[bytes], lo: int, hi: int, n: int, old: bytes) -> tuple[bytes, bytes]:
    """(old subtree hash, new subtree hash) of leaves [lo, hi) implied by the proof."""
    if n == hi:
        if lo == 0:
            if p:
                raise ProofError("consistency proof too long")
            return old, old
        if len(p) != 1:
            raise ProofError("consistency proof of the wrong length")
        return p[0], p[0]
    if not p:
        raise ProofError("consistency proof too short")
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        oh, th = _run_consistency(p[:-1], lo, lo + k, n, old)
        return oh, node_hash(th, p[-1])
    oh, th = _run_consistency(p[:-1], lo + k, hi, n, old)
    return node_hash(p[-1], oh), node_hash(p[-1], th)


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise ProofError unless the tree (new_size, new_root) extends (old_size, old_root).

    As in RFC 9162 §2.1.4.2, a proof from the empty tree is meaningless and refused; equal
    sizes need an empty proof and equal roots."""
    if old_size < 1 or new_size < old_size:
        raise ProofError("consistency needs 0 < old size <= new size")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots")
        return
    if any(len(h) != HASH_SIZE for h in (old_root, new_root, *proof)):
        raise ProofError("hashes must be 32 bytes")
    oh, th = _run_consistency(list(proof), 0, new_size, old_size, old_root)
    if oh != old_root or th != new_root:
        raise ProofError("consistency proof does not lead to both roots")
