"""A load generator for the lab: what an HTTP service's users do during a rollout.

Per target: one thread sends `GET /` on a new TCP connection every `interval` seconds,
and every `slow_every` seconds a slow request (`slow_path`, the demo image's 3 s CGI)
starts in its own thread, so some requests are in flight across any switch. Every
request is recorded (target, start, end, kind, outcome, the version in the body).
Standard library only; used by the lab tests and the benchmarks.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

_VERSION = re.compile(rb"v[0-9]+")
FAST_TIMEOUT = 5.0
SLOW_TIMEOUT = 15.0


@dataclass(frozen=True)
class Record:
    target: str
    start: float  # time.monotonic()
    end: float
    kind: str  # "fast" | "slow"
    status: int | None  # None: no HTTP answer (see error)
    error: str
    version: str | None  # v1, v2... found in the body

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def outcome(self) -> int | str:
        """The HTTP status, or the error text when there was no answer."""
        return self.status if self.status is not None else self.error


class Load:
    """`with Load({"h1": ("10.0.0.1", 80)}) as load: ...`, then `load.failed()`."""

    def __init__(
        self,
        targets: dict[str, tuple[str, int]],
        *,
        interval: float = 0.01,
        slow_path: str | None = "/cgi-bin/slow",
        slow_every: float = 1.0,
        host_header: str | None = None,
    ) -> None:
        self.targets = dict(targets)
        self.interval, self.slow_path, self.slow_every = interval, slow_path, slow_every
        self.host_header = host_header
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._slow: list[threading.Thread] = []

    # -- running ---------------------------------------------------------------------------
    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        for name in self.targets:
            self._spawn(self._fast_loop, name)
            if self.slow_path:
                self._spawn(self._slow_loop, name)

    def stop(self, wait_slow: float = SLOW_TIMEOUT + 1) -> None:
        """Stop sending; wait (bounded) for the slow requests still in flight."""
        self._stop.set()
        deadline = time.monotonic() + FAST_TIMEOUT + 1  # a fast request in flight, at most
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        deadline = time.monotonic() + wait_slow
        with self._lock:
            slow = list(self._slow)
        for t in slow:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, fn: Callable[[str], None], name: str) -> None:
        t = threading.Thread(target=fn, args=(name,), daemon=True)
        t.start()
        self._threads.append(t)

    def _fast_loop(self, name: str) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self._request(name, "/", "fast", FAST_TIMEOUT)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def _slow_loop(self, name: str) -> None:
        assert self.slow_path is not None
        path = self.slow_path
        while not self._stop.wait(self.slow_every):
            t = threading.Thread(
                target=self._request, args=(name, path, "slow", SLOW_TIMEOUT), daemon=True
            )
            t.start()
            with self._lock:
                self._slow = [s for s in self._slow if s.is_alive()]
                self._slow.append(t)

    def _request(self, name: str, path: str, kind: str, timeout: float) -> None:
        address, port = self.targets[name]
        start = time.monotonic()
        status: int | None = None
        error, version = "", None
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
        try:
            headers = {"Connection": "close"}
            if self.host_header:
                headers["Host"] = self.host_header
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(65536)
            status = resp.status
            found = _VERSION.search(body)
            version = found.group(0).decode() if found else None
            if status != 200:
                error = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as err:
            error = f"{type(err).__name__}: {err}"
        finally:
            conn.close()
        with self._lock:
            self.records.append(Record(name, start, time.monotonic(), kind, status, error, version))

    # -- results ---------------------------------------------------------------------------
    def _snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def failed(self) -> list[Record]:
        return [r for r in self._snapshot() if not r.ok]

    def counts(self) -> dict[str, Counter[str]]:
        """target -> version (or "failed", or "none") -> number of requests."""
        out: dict[str, Counter[str]] = {name: Counter() for name in self.targets}
        for r in self._snapshot():
            out[r.target]["failed" if not r.ok else (r.version or "none")] += 1
        return out

    def versions_between(
        self, t0: float, t1: float = float("inf"), kind: str | None = None
    ) -> dict[str, set[str]]:
        """target -> the versions that answered requests started in [t0, t1) (of one kind)."""
        out: dict[str, set[str]] = {name: set() for name in self.targets}
        for r in self._snapshot():
            if r.ok and t0 <= r.start < t1 and kind in (None, r.kind):
                out[r.target].add(r.version or "none")
        return out

    def versions_after(self, t: float) -> dict[str, set[str]]:
        return self.versions_between(t)

    def first_time_of(self, version: str, target: str) -> float | None:
        """When (monotonic) the first request that `version` answered on `target` started."""
        times = self._starts(version, target)
        return min(times) if times else None

    def last_time_of(self, version: str, target: str) -> float | None:
        """When (monotonic) the last request that `version` answered on `target` started."""
        times = self._starts(version, target)
        return max(times) if times else None

    def _starts(self, version: str, target: str) -> list[float]:
        return [
            r.start
            for r in self._snapshot()
            if r.ok and r.target == target and r.version == version
        ]

    def slow_completed(self) -> int:
        return sum(1 for r in self._snapshot() if r.kind == "slow" and r.ok)

    def summary(self) -> dict[str, object]:
        records = self._snapshot()
        fails = [r for r in records if not r.ok]
        return {
            "requests": len(records),
            "failed": len(fails),
            "slow": sum(1 for r in records if r.kind == "slow"),
            "slow_completed": sum(1 for r in records if r.kind == "slow" and r.ok),
            "per_target": {k: dict(v) for k, v in self.counts().items()},
            "first_failures": [(r.target, r.kind, r.error) for r in fails[:5]],
        }
