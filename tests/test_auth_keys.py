"""The embedded issuer's signing keys in the secret dir: rotation, retired keys, reloads."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from hub.auth.keys import (
    KEY_FILE,
    RETIRED_FILE,
    SigningKey,
    SigningKeys,
    rotate_signing_key,
)

KEEP_S = 3600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_rotation_keeps_the_old_public_key_until_its_tokens_expire(tmp_path: Path) -> None:
    clock = Clock()
    keys = SigningKeys.from_secret_dir(tmp_path, clock=clock)
    first = keys.current.kid
    assert keys.public_jwks()["keys"][0]["kid"] == first

    new, retired = rotate_signing_key(tmp_path, keep_s=KEEP_S, now=clock.now)
    for name in (KEY_FILE, RETIRED_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    assert [k.kid for k in retired] == [first]
    stored = json.loads((tmp_path / RETIRED_FILE).read_text())
    assert not {"d", "p", "q", "dp", "dq", "qi"} & stored["keys"][0]["jwk"].keys()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    assert keys.refresh(force=True)
    assert keys.current.kid == new.kid
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new.kid, first]
    assert {k.kid for k in keys.verification_keys(first).keys} == {new.kid, first}

    clock.now += KEEP_S + 1  # the old key's tokens have all expired
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new.kid]
    assert {k.kid for k in keys.verification_keys(first).keys} == {new.kid}

    # The next rotation drops what is past its time.
    _, retired = rotate_signing_key(tmp_path, keep_s=KEEP_S, now=clock.now)
    assert [k.kid for k in retired] == [new.kid]


def test_revoke_previous_keeps_no_old_key(tmp_path: Path) -> None:
    rotate_signing_key(tmp_path, keep_s=KEEP_S)
    new, retired = rotate_signing_key(tmp_path, keep_s=KEEP_S, revoke_previous=True)
    assert retired == ()
    keys = SigningKeys.from_secret_dir(tmp_path)
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new.kid]


def test_an_unknown_kid_makes_a_process_look_at_the_files_at_once(tmp_path: Path) -> None:
    keys = SigningKeys.from_secret_dir(tmp_path)
    new, _ = rotate_signing_key(tmp_path, keep_s=KEEP_S)
    # Within CHECK_S of the last look; the new kid forces another (FORCED_CHECK_S apart).
    deadline = time.monotonic() + 1.0
    while new.kid not in {k.kid for k in keys.verification_keys(new.kid).keys}:
        assert time.monotonic() < deadline
    assert keys.current.kid == new.kid


def test_concurrent_rotations_leave_a_consistent_pair(tmp_path: Path) -> None:
    SigningKey.from_secret_dir(tmp_path)
    results: list[str] = []

    def rotate() -> None:
        results.append(rotate_signing_key(tmp_path, keep_s=KEEP_S)[0].kid)

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    keys = SigningKeys.from_secret_dir(tmp_path)
    assert keys.current.kid in results
    # Every key made along the way is either current or retired, once.
    published = [k["kid"] for k in keys.public_jwks()["keys"]]
    assert len(published) == len(set(published)) == 5
    assert set(results) <= set(published)


def test_a_damaged_retired_file_stops_a_start_but_not_a_running_replica(tmp_path: Path) -> None:
    keys = SigningKeys.from_secret_dir(tmp_path)
    rotate_signing_key(tmp_path, keep_s=KEEP_S)
    keys.refresh(force=True)
    held = [k["kid"] for k in keys.public_jwks()["keys"]]
    (tmp_path / RETIRED_FILE).write_text('{"keys": [{"kid": "x", "jwk": {"kty": "oct"}}]}')
    assert not keys.refresh(force=True)  # logged; the keys it holds stay
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == held
    with pytest.raises(RuntimeError) as info:
        SigningKeys.from_secret_dir(tmp_path)
    assert "oct" not in str(info.value)
