"""The one parallel helper: run a function on each item, at most `limit` at once.

Like docker-compose's `parallel_execute`: every item comes back, with its value or the
exception it raised (never lost, never raised in the caller's face); items not yet
started when `cancel` is set come back with `Cancelled`. Used by the rollout, the
health gatherer and the lock and audit commands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """The item was not started: the run was cancelled first."""


@dataclass(frozen=True)
class Done(Generic[T, R]):
    item: T
    value: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def each(
    items: Iterable[T], fn: Callable[[T], R], limit: int, cancel: threading.Event | None = None
) -> list[Done[T, R]]:
    """fn(item) for every item, `limit` at a time; results in the items' order."""
    todo = list(items)
    if not todo:
        return []

    def one(item: T) -> Done[T, R]:
        if cancel is not None and cancel.is_set():
            return Done(item, error=Cancelled())
        try:
            return Done(item, fn(item))
        except Exception as err:  # noqa: BLE001 - handed back to the caller with its item
            return Done(item, error=err)

    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(todo)))) as pool:
        return list(pool.map(one, todo))
