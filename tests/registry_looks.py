"""Waiting for a registry change to be honoured, without trusting the wall clock.

The hub promises that a change to clients, people or organisations is honoured at the
auth registry's first look after it (a look every POLL_S, or at once on a PostgreSQL
notification). On a busy machine the watcher may be late, so a test that only counts
seconds fails for the wrong reason. These helpers count looks instead: a request that
is still admitted after a whole look that began after the change is a failure, however
little time has passed; the clock bounds only how long a test may wait at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

BOUND_S = 15.0  # liveness only: a look must come at all


def admitted_until_next_look(
    registry: Any, admitted: Callable[[], bool], *, bound_s: float = BOUND_S
) -> float:
    """Call `admitted()` until it is False; returns the seconds that took.

    Fails if it is still True after a look that began after the change had finished
    (the registry's `looks` count moved by two since this call), or after `bound_s`.
    Call it right after committing the change."""
    before = registry.looks
    start = time.monotonic()
    while True:
        looked = registry.looks  # read before the request, so that look was finished
        if not admitted():
            return time.monotonic() - start
        assert looked < before + 2, "still admitted after the registry looked again"
        assert time.monotonic() - start < bound_s, f"no look within {bound_s} s"


def refused_after_next_look(
    hub: Any, status: Callable[[], int], *, bound_s: float = BOUND_S
) -> float:
    """`admitted_until_next_look` for a test hub whose requests answer 200 while admitted."""
    return admitted_until_next_look(
        hub.app.state.registry, lambda: status() == 200, bound_s=bound_s
    )
