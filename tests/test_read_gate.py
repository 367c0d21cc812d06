"""The read gate's admission queue (hub/read/gate.py): requests past the bounds wait for a
place, in a bounded queue, for a bounded time, and are refused (Overloaded -> 503) after.
The burst through the whole app is in tests/test_compiled_load.py."""

from __future__ import annotations

import asyncio

import pytest

from hub.read.gate import Overloaded, ReadGate


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def test_a_request_waits_for_a_place_and_is_let_in_when_one_frees():
    gate = ReadGate(1, 100, max_waiting=4, max_wait_s=5.0)
    order: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def first() -> None:
            async with gate.admit(1):
                order.append("first in")
                await release.wait()
            order.append("first out")

        async def second() -> None:
            async with gate.admit(1):
                order.append("second in")

        a = asyncio.create_task(first())
        await asyncio.sleep(0)
        b = asyncio.create_task(second())
        while gate.waiting == 0:  # bounded by the outer timeout
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(a, b)

    run(main())
    assert order == ["first in", "first out", "second in"]
    assert gate.refused == 0 and gate.requests == 0 and gate.rows == 0


def test_a_wait_that_lasts_too_long_is_refused():
    gate = ReadGate(1, 100, max_waiting=4, max_wait_s=0.05)

    async def main() -> None:
        async with gate.admit(1):
            with pytest.raises(Overloaded):
                async with gate.admit(1):
                    pass

    run(main())
    assert gate.refused == 1 and gate.waiting == 0


def test_a_full_queue_refuses_at_once():
    gate = ReadGate(1, 100, max_waiting=0, max_wait_s=5.0)

    async def main() -> None:
        async with gate.admit(1):
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(Overloaded):
                async with gate.admit(1):
                    pass
            assert loop.time() - started < 1.0

    run(main())
    assert gate.refused == 1


def test_a_small_read_passes_a_huge_one_that_does_not_fit():
    gate = ReadGate(10, 100, max_waiting=4, max_wait_s=5.0)
    order: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with gate.admit(60):
                await release.wait()

        async def huge() -> None:
            async with gate.admit(60):
                order.append("huge")

        async def small() -> None:
            async with gate.admit(10):
                order.append("small")

        h = asyncio.create_task(holder())
        await asyncio.sleep(0)
        big = asyncio.create_task(huge())
        while gate.waiting == 0:
            await asyncio.sleep(0)
        await small()  # fits beside the holder: in at once, ahead of the waiting huge one
        release.set()
        await asyncio.gather(h, big)

    run(main())
    assert order == ["small", "huge"]


def test_newcomers_do_not_pass_those_waiting_for_the_same_place():
    """Under steady overload a waiting request gets the next free place, not a request
    that arrives just as it frees (else a waiter could wait until refused)."""
    gate = ReadGate(1, 100, max_waiting=4, max_wait_s=5.0)
    order: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with gate.admit(1):
                await release.wait()

        async def one(name: str) -> None:
            async with gate.admit(1):
                order.append(name)

        h = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(one("waiter"))
        while gate.waiting == 0:
            await asyncio.sleep(0)
        release.set()
        await h  # the place frees here and is held for the waiter at once
        await one("newcomer")
        await waiter

    run(main())
    assert order == ["waiter", "newcomer"]


def test_a_request_cancelled_while_waiting_leaves_no_place_held():
    gate = ReadGate(1, 100, max_waiting=4, max_wait_s=5.0)

    async def main() -> None:
        async with gate.admit(1):
            waiter = asyncio.create_task(gate.admit(1).__aenter__())
            while gate.waiting == 0:
                await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert gate.requests == 0 and gate.rows == 0 and gate.waiting == 0

    run(main())
