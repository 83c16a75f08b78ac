"""The health gate's watch over the Engine API: the container's `die` events on a stream
(GET /events, filtered to the container, from the moment it was created: a die before
the stream began is replayed) instead of a `docker wait` process on the host, and its state by
inspect. The decision is still taken from the host's guard by its one shell test
(docker/guard.py `decide_line`), in one command.

A stream that ends or breaks before the gate closes it is not taken for a stop: the
container's state is read again (within RECOVER seconds), and a container still running
since the same start is watched by a new stream. Fail safe: a state that cannot be read, a
container started again (its StartedAt or restart count moved), or more than RESUBSCRIBE
broken streams in one gate count as a stop (code ?, and `lost` says why), as the shell
watcher's end does. A watch that cannot be set up in time (the channel refused, the engine
not answering, an error status) is None: the gate takes the shell watcher as before.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from deployer.errors import RemoteError
from deployer.remote.engine_api import (
    CONNECTION_LOST,
    REQUEST_FAILED,
    negotiate,
    socket_client,
)
from deployer.remote.ssh import Session

TIMEOUT = 30.0  # each request, and the stream's answer (not its events: they last the gate)
UNKNOWN = "?"  # the exit code of a stop seen otherwise than by its event
RESUBSCRIBE = 3  # broken streams in one gate, each followed by a new one, before fail safe
RECOVER = 5.0  # each answer in a recovery after a break (opening a channel: its own 10 s)
_FAILED = (*REQUEST_FAILED, *CONNECTION_LOST)  # either: the watch is not set up, or ends


def since(created: str) -> str:
    """docker's `Created` (RFC 3339, nanoseconds) as the events' `since` (epoch seconds), a
    second early: the engine keeps recent events and replays them."""
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return f"{when.timestamp() - 1:.6f}"


class ApiWatch:
    """Whether the container stopped since it started, and the confirmation."""

    def __init__(
        self,
        session: Session,
        path: str,
        container_id: str,
        count: Callable[[int], None],
        version: str | None = None,
    ):
        self.session = session
        self.container = container_id
        self.count = count  # told the channels opened, when closed
        self.code: str | None = None  # its exit code, once it stopped
        self.closing = False
        self.broke: str | None = None  # why the stream ended before the gate closed it
        self.breaks: list[str] = []  # each break, in order
        self.lost = ""  # why a stop of code ? was taken, when a break led to it (Watch)
        self.created = ""
        self.api, self.adapter = socket_client(session, path, timeout=TIMEOUT)
        try:
            negotiate(self.api, version)
            state = self._state(TIMEOUT)
            self.started = (state.get("RestartCount", 0), state.get("StartedAt", ""))
            if not state.get("Running"):  # stopped already: its code, as docker wait's
                self.code = str(state.get("ExitCode", UNKNOWN))
                return
            # every die since it was created is replayed: one before the stream began too
            self.created = since(str(state["Created"]))
            self._subscribe(self.created, TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _state(self, timeout: float) -> dict[str, Any]:
        """Its state, restart count and creation time; asked again once on a connection
        error (a pooled connection the engine had closed: the stream's, at its end)."""
        url = self.api._url("/containers/{0}/json", self.container)  # noqa: SLF001
        for attempt in (1, 2):
            try:
                res = self.api._get(url, timeout=timeout)  # noqa: SLF001
                data: dict[str, Any] = self.api._result(res, True)  # noqa: SLF001
                break
            except requests.ConnectionError:
                if attempt == 2:
                    raise
        return dict(
            data.get("State") or {},
            RestartCount=data.get("RestartCount", 0),
            Created=data.get("Created", ""),
        )

    def _started_again(self, state: dict[str, Any]) -> bool:
        """Started again since the watch began: a restart policy's restart counts one, a
        `docker restart` or the engine's own restart only moves StartedAt."""
        return (state.get("RestartCount", 0), state.get("StartedAt", "")) != self.started

    def _subscribe(self, start: str, wait: float) -> None:
        """The stream's answer within `wait` seconds with a 200, else the watch is not set
        up; its events are then read by a thread until the gate closes the watch."""
        answered = threading.Event()
        outcome: list[Any] = []
        params = {
            "since": start,
            "filters": json.dumps({"container": [self.container], "event": ["die"]}),
        }

        def read() -> None:
            try:
                res = self.api._get(
                    self.api._url("/events"), params=params, stream=True, timeout=None
                )  # noqa: SLF001
                self.api._raise_for_status(res)  # noqa: SLF001
            except _FAILED as err:
                outcome.append(err)
                answered.set()
                return
            outcome.append(res)
            answered.set()
            # the stream's connection is never used again: at the stream's end urllib3
            # hands it back to the pool before the channel's close has arrived
            stream_conn = getattr(res.raw, "connection", None)
            res.raw.release_conn = lambda: None  # so it is not handed back: closed below
            why = "the events stream ended"
            try:
                for event in self.api._stream_helper(res, decode=True):  # noqa: SLF001
                    attributes = (event.get("Actor") or {}).get("Attributes") or {}
                    code = str(attributes.get("exitCode", ""))
                    self.code = code if code.isdigit() else UNKNOWN
                    return
            except Exception as err:  # noqa: BLE001 - urllib3's and the SDK's own too: a break
                why = f"the events stream broke: {type(err).__name__}: {err}"[:200]
            finally:  # a transport that died with the stream: closing raises, said below
                for close in (res.close, getattr(stream_conn, "close", None)):
                    try:
                        if close is not None:
                            close()
                    except Exception:  # noqa: BLE001, S110 - the break is what matters here
                        pass
            if not self.closing:  # ended before the gate closed it: see stopped()
                self.broke = why

        threading.Thread(target=read, daemon=True, name="gate-events").start()
        if not answered.wait(wait):
            raise RemoteError(f"the engine did not answer the events request in {wait:g}s")
        if isinstance(outcome[0], Exception):
            raise outcome[0]

    def stopped(self) -> str | None:
        """The exit code (or ?) if the container stopped since it started, else None."""
        if self.code is None and self.broke is not None and not self.closing:
            self._recover(self.broke)
        return self.code

    def _recover(self, why: str) -> None:
        """After a stream's end: a stop if the state says so (or cannot say), else a new
        stream from the container's start (a die meanwhile is replayed to it)."""
        self.broke = None
        self.breaks.append(why)
        lost = ""
        try:
            state = self._state(RECOVER)
            if not state.get("Running"):
                self.code = str(state.get("ExitCode", UNKNOWN))
            elif self._started_again(state):
                lost = f"{why}, and it was started again meanwhile"
            elif len(self.breaks) > RESUBSCRIBE:
                lost = f"{why}, {len(self.breaks)} times in this gate"
            else:
                try:
                    self._subscribe(self.created, RECOVER)
                except _FAILED as err:
                    lost = f"{why}, and a new stream could not be set up: {err}"[:300]
        except _FAILED as err:
            lost = f"{why}, and its state could not be read: {err}"[:300]
        if lost:
            self.lost = f"the watch over the Engine API lost the container ({lost})"
            self.code = UNKNOWN

    def confirm(self, decide: str) -> list[str]:
        """The shell watcher's words for the end of a passed gate: STOPPED (it does not run
        any more), or CONFIRMED (the decision is ours) or LATE (the guard took it), with its
        exit code when it stopped meanwhile; none when the answer was not one of these."""
        self.stopped()  # a break not looked at yet: looked at first
        try:
            state = self._state(TIMEOUT)
        except _FAILED:
            return ["STOPPED"]
        if not state.get("Running"):
            return ["STOPPED"]
        res = self.session.run(
            f"if {decide}; then echo CONFIRMED; else echo LATE; fi\n", timeout=30
        )
        words = res.stdout.split()
        if not res.ok or words not in (["CONFIRMED"], ["LATE"]):
            return []
        if self._started_again(state):
            self.code = self.code or UNKNOWN
        return words + ([self.code] if self.code is not None else [])

    def close(self) -> None:
        self.closing = True
        try:
            self.api.close()  # the adapter closes every channel: the reader sees the end
        except Exception:  # noqa: BLE001 - a broken transport: nothing more to close
            pass
        finally:
            self.count(self.adapter.channels)


def watch(
    session: Session,
    path: str,
    container_id: str,
    count: Callable[[int], None],
    version: str | None = None,
) -> ApiWatch | None:
    """An ApiWatch, or None when one cannot be set up (the gate's shell watcher then).
    version: the API version the prepare step agreed with this engine (None: ask)."""
    try:
        return ApiWatch(session, path, container_id, count, version)
    except _FAILED:
        return None
