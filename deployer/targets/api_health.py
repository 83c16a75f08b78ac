"""A health report's docker facts over the Engine API (after the host's shell command
printed its own sections and where the engine listens): the same sections the CLI's
script prints (docker/api_health.py writes them), with no process started on the host.

Requests: info, the restart events of the window, the container list, one inspect per
managed container, one per image they run, and the proxy's inspect where it runs. A
request that fails is its section's `!error:` line, as the script's `|| echo` makes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import docker
import docker.errors

from deployer.docker import api_health as ah
from deployer.docker import health_script as hs
from deployer.docker.health_script import RESTART_WINDOW_MIN
from deployer.docker.labels import LABEL_MANAGED
from deployer.docker.proxy import PROXY_NAME
from deployer.errors import Unreachable
from deployer.remote.engine_api import CONNECTION_LOST, REQUEST_FAILED, negotiate, socket_client
from deployer.remote.ssh import Session
from deployer.remote.streamlocal import StreamLocalRefused

T = TypeVar("T")
FAILED = REQUEST_FAILED
LOST = CONNECTION_LOST  # the connection itself: the host is unreachable


def _why(err: Exception) -> str:
    if isinstance(err, docker.errors.APIError):
        return f"Error response from daemon: {err.explanation or err}"
    return str(err) or type(err).__name__


class ApiHealth:
    """One host's docker sections over an APIClient (remote/engine_api.py `socket_client`).
    StreamLocalRefused propagates from the first request (the caller falls back to the
    CLI: nothing reached the engine); later ones are that section's error."""

    def __init__(self, api: docker.APIClient, host: str, deadline: float):
        self.api = api
        self.host = host
        self.deadline = deadline  # time.monotonic(): no request starts after it
        self.data_root: str | None = None
        self.asked = 0

    def _ask(self, call: Callable[[], T]) -> T | str:
        first = self.asked == 0
        self.asked += 1
        if time.monotonic() > self.deadline:
            return "timed out: the host's health facts took too long"
        try:
            return call()
        except StreamLocalRefused:
            if first:
                raise
            return "the Engine API over SSH was refused"
        except LOST as err:
            raise Unreachable(
                f"{self.host}: connection lost during the health facts: {err}"
            ) from err
        except FAILED as err:
            return _why(err)

    def info(self) -> dict[str, Any] | str:
        """The engine's info, after agreeing on an API version (the first request: a
        refused channel propagates from it)."""
        agreed = self._ask(lambda: {"version": negotiate(self.api)})
        if isinstance(agreed, str):  # why it failed
            return agreed
        got = self._ask(self.api.info)
        if isinstance(got, dict):
            self.data_root = str(got.get("DockerRootDir") or "") or None
        return got

    def _events(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /events up to `until` (the engine ends the answer there), bounded by the
        client's timeout (the SDK's events() waits without one)."""
        res = self.api.get(
            self.api._url("/events"),  # noqa: SLF001
            params=params,
            timeout=self.api.timeout,
        )
        self.api._raise_for_status(res)  # noqa: SLF001
        return [json.loads(line) for line in res.text.splitlines() if line.strip()]

    def sections(self, info: dict[str, Any] | str, clock: float) -> str:
        """Every docker section but df. `clock`: the host's time now (events up to it)."""
        since = clock - RESTART_WINDOW_MIN * 60
        filters = {"label": [f"{LABEL_MANAGED}=true"], "event": ["die"]}
        # until: now, as `--until 0s` (an `until` ahead of the engine's clock holds the answer
        # open until then)
        params = {"since": f"{since:.9f}", "until": f"{clock:.9f}", "filters": json.dumps(filters)}
        events = self._ask(lambda: self._events(params))
        listed = self._ask(lambda: self.api.containers(all=True))
        inspects: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        proxy = None
        if isinstance(listed, list):
            for cid in ah.managed_ids(listed):
                got = self._ask(partial(self.api.inspect_container, cid))
                if isinstance(got, dict):  # gone since the list: the CLI's inspect skips it
                    inspects.append(got)
            for image_id in sorted({str(d.get("Image") or "") for d in inspects} - {""}):
                img = self._ask(partial(self.api.inspect_image, image_id))
                if isinstance(img, dict):
                    images.append(img)
            if ah.has_proxy(listed):
                got = self._ask(lambda: self.api.inspect_container(PROXY_NAME))
                proxy = got if isinstance(got, dict) else None
        return ah.docker_text(
            info=info,
            events=events if isinstance(events, list) else str(events),
            listed=listed,
            inspects=inspects,
            images=images,
            proxy=proxy,
        )


def docker_sections(
    session: Session,
    path: str,
    clock: float,
    timeout: float,
    started: float,
    count: Callable[[int], None],
) -> str:
    """The docker sections over the Engine API at the socket `path`, all within `timeout`
    of `started`; where the engine keeps its data elsewhere than the host script's df
    looked (DEFAULT_DATA_ROOT), df's by a shell command started as soon as the API said
    so. StreamLocalRefused when the server refused the first channel to the socket
    (nothing reached the engine: the caller takes the CLI's script); `count` is told the
    channels opened."""
    api, adapter = socket_client(session, path, timeout=hs.DOCKER_TIMEOUT)
    try:
        reader = ApiHealth(api, session.conn.name, started + timeout)
        info = reader.info()
        if reader.data_root in (None, hs.DEFAULT_DATA_ROOT):
            return reader.sections(info, clock)
        df = session.start(hs.df_script(reader.data_root))
        try:
            text = reader.sections(info, clock)
        finally:  # the connection lost meanwhile: Unreachable, and the channel let go
            df_out, _err, _code = session.collect(df, timeout, started)
        return text + df_out
    finally:
        count(adapter.channels)
        api.close()
