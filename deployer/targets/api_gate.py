"""The health gate's watch over the Engine API: the container's `die` events on a stream
(GET /events, filtered to the container, read by a thread) instead of a `docker wait`
process on the host, and its state by an inspect request. The decision is still taken from
the host's guard by its one shell test (docker/guard.py `decide_line`), in one command.

A watch that cannot be set up (the channel refused, the engine not answering) is None: the
gate takes the shell watcher as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests

from deployer.errors import RemoteError
from deployer.remote.engine_api import CONNECTION_LOST, negotiate, socket_client
from deployer.remote.ssh import Session

TIMEOUT = 30.0  # each request (not the stream of events: it lasts as long as the gate)
_FAILED: tuple[type[Exception], ...] = (
    docker.errors.DockerException,
    requests.RequestException,
    RemoteError,
    OSError,
    ValueError,
    *CONNECTION_LOST,
)


class ApiWatch:
    """Whether the container stopped since the watch began, and the confirmation."""

    def __init__(
        self, session: Session, path: str, container_id: str, count: Callable[[int], None]
    ):
        self.session = session
        self.container = container_id
        self.count = count  # told the channels opened, when closed
        self.code: str | None = None  # its exit code, once it stopped
        self.api, self.adapter = socket_client(session, path, timeout=TIMEOUT)
        try:
            negotiate(self.api)
            filters = {"container": [container_id], "event": ["die"]}
            self._events = self.api.events(filters=filters, decode=True)
            self._reader = threading.Thread(target=self._read, daemon=True, name="gate-events")
            self._reader.start()
            # stopped before the stream began (the events cover only what follows)
            state = self._state()
            if state is not None and not state.get("Running"):
                self.code = self.code or str(state.get("ExitCode", "?"))
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        try:
            for event in self._events:
                attributes = (event.get("Actor") or {}).get("Attributes") or {}
                code = str(attributes.get("exitCode", ""))
                self.code = code if code.isdigit() else "0"  # docker always sends one
                return
        except _FAILED:  # the stream ended (closed by the gate, or the connection lost)
            return

    def _state(self) -> dict[str, Any] | None:
        data: dict[str, Any] = self.api.inspect_container(self.container)
        return data.get("State") or {}

    def stopped(self) -> str | None:
        """The exit code if the container stopped since the watch began, else None."""
        return self.code

    def confirm(self, decide: str) -> list[str]:
        """The shell watcher's words for the end of a passed gate: STOPPED (it does not run
        any more), or CONFIRMED (the decision is ours) or LATE (the guard took it), with its
        exit code when it stopped meanwhile."""
        try:
            state = self._state()
        except _FAILED:
            state = None
        if state is None or not state.get("Running"):
            return ["STOPPED"]
        res = self.session.run(f"if {decide}; then echo CONFIRMED; else echo LATE; fi\n")
        words = res.stdout.split() or ["LATE"]
        return words + ([self.code] if self.code is not None else [])

    def close(self) -> None:
        self.api.close()  # the adapter closes every channel: the reader sees the end
        self.count(self.adapter.channels)


def watch(
    session: Session, path: str, container_id: str, count: Callable[[int], None]
) -> ApiWatch | None:
    """An ApiWatch, or None when one cannot be set up (the gate's shell watcher then)."""
    try:
        return ApiWatch(session, path, container_id, count)
    except _FAILED:
        return None
