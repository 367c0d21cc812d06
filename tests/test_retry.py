"""hub/retry.py's wait on an event: a cancellation always propagates, also when it arrives
as the event is set (the race in which `asyncio.wait_for` on Python 3.11 swallows it, and a
watcher woken during shutdown never stops)."""

from __future__ import annotations

import asyncio

import pytest

from hub.retry import wait_event


def test_waiting_ends_when_the_event_is_set_or_the_time_is_up():
    async def main() -> tuple[bool, bool]:
        event = asyncio.Event()
        asyncio.get_running_loop().call_soon(event.set)
        woken = await wait_event(event, 5.0)
        timed_out = await wait_event(asyncio.Event(), 0.01)
        return woken, timed_out

    assert asyncio.run(main()) == (True, False)


def test_a_cancellation_arriving_with_the_wake_up_is_not_lost():
    async def main() -> None:
        for _ in range(50):
            event = asyncio.Event()
            ended = asyncio.Event()

            async def watcher(event: asyncio.Event = event, ended: asyncio.Event = ended) -> None:
                try:
                    while True:
                        await wait_event(event, 10.0)
                        event.clear()
                finally:
                    ended.set()

            task = asyncio.create_task(watcher())
            await asyncio.sleep(0)  # the watcher waits
            event.set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
            assert ended.is_set()

    asyncio.run(main())
