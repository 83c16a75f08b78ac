"""The health gate's watch over the Engine API (targets/api_gate.py) against a real SSH
server (paramiko's server side, on 127.0.0.1) whose stream-local channels reach a small
scripted engine: HTTP/1.1 on the channel, as dockerd answers on its socket.

In CI a healthy first deploy was rolled back with "container exited (code ?)": its
events stream ended before the gate closed it (why, CI did not say), and the watch took
any end of the stream for a stop; a stream broken by a malformed chunk (an urllib3 error,
outside the errors it caught) left the watch blind instead. A stream's end is now checked
against the container's state, and a running container gets a new stream."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest

from deployer.remote import ssh
from deployer.remote.engine_api import API_VERSION
from deployer.targets import api_gate
from tests.unit.remote.test_connect_pacing import Front, OpenServer, conn_to

CID = "c" * 64


def _reply(chan: paramiko.Channel, body: Any) -> None:
    data = json.dumps(body).encode()
    chan.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )


class Script:
    """What the engine answers: its container's state, and each events request's fate in
    turn (the last one repeats): ("quiet",), ("die", after, code), ("end", after) the
    stream closed, ("garbage", after) a chunk that is not HTTP's, ("refuse",) an error."""

    def __init__(self, *streams: tuple[Any, ...], running: bool = True, code: int = 0):
        self.streams = list(streams)
        self.running, self.code = running, code
        self.started_at = "2026-11-29T12:00:01Z"
        self.restarts = 0
        self.asked: list[str] = []

    def next_stream(self) -> tuple[Any, ...]:
        return self.streams.pop(0) if len(self.streams) > 1 else self.streams[0]


def _serve_http(chan: paramiko.Channel, script: Script) -> None:
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = chan.recv(65536)
            if not data:
                return
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        target = head.split(b"\r\n")[0].decode().split(" ")[1]
        path = re.sub(r"^/v[0-9.]+", "", target.split("?")[0])
        script.asked.append(path)
        if path == "/version":
            _reply(chan, {"ApiVersion": "1.47", "MinAPIVersion": "1.24"})
        elif path == f"/containers/{CID}/json":
            state = {
                "Running": script.running,
                "ExitCode": script.code,
                "StartedAt": script.started_at,
            }
            _reply(
                chan,
                {
                    "State": state,
                    "RestartCount": script.restarts,
                    "Created": "2026-11-29T12:00:00Z",
                },
            )
        elif path == "/events":
            _events(chan, script.next_stream())
            return
        else:
            chan.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def _events(chan: paramiko.Channel, fate: tuple[Any, ...]) -> None:
    if fate[0] == "refuse":  # an error answer: the engine will not stream
        body = b'{"message": "too many listeners"}'
        chan.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return
    chan.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    if fate[0] == "quiet":
        time.sleep(60)  # the container runs: nothing to say
        return
    time.sleep(fate[1])
    if fate[0] == "die":
        event = (
            json.dumps(
                {"Action": "die", "Actor": {"ID": CID, "Attributes": {"exitCode": str(fate[2])}}}
            ).encode()
            + b"\n"
        )
        chan.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        time.sleep(60)
    elif fate[0] == "garbage":
        chan.sendall(b"not a chunk size\r\n")
        time.sleep(60)
    else:  # "end": the stream closed, as a dropped connection or a restarted engine
        chan.sendall(b"0\r\n\r\n")
        chan.close()


def _watch(tmp_path: Path, script: Script, version: str | None = None):  # type: ignore[no-untyped-def]
    key = paramiko.RSAKey.generate(1024)
    stop = threading.Event()

    def serve(index: int, sock: object) -> None:
        t = paramiko.Transport(sock)
        t.add_server_key(key)
        t.start_server(server=OpenServer())
        while not stop.is_set():
            chan = t.accept(0.5)
            if chan is not None:
                threading.Thread(target=_serve_http, args=(chan, script), daemon=True).start()
        t.close()

    front = Front(serve)
    session = ssh.Session(conn_to(front.port, tmp_path, key), connect_timeout=5)
    counted: list[int] = []
    watch = api_gate.watch(session, "/run/docker.sock", CID, counted.append, version)

    def close() -> None:
        if watch is not None:
            watch.close()
        stop.set()
        session.close()
        front.close()

    return watch, counted, close


def _seen(watch: api_gate.ApiWatch, seconds: float) -> str | None:
    """What stopped() says within `seconds`, polled as the gate polls it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        code = watch.stopped()
        if code is not None:
            return code
        time.sleep(0.1)
    return None


@pytest.fixture
def short_requests(monkeypatch: pytest.MonkeyPatch) -> float:
    """A request timeout of a second: the gate below lasts three."""
    monkeypatch.setattr(api_gate, "TIMEOUT", 1.0)
    return 1.0


def test_a_quiet_events_stream_is_not_a_stop(tmp_path: Path, short_requests: float) -> None:
    script = Script(("quiet",))
    watch, counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None, script.asked
        assert _seen(watch, 3.0) is None  # three times the request timeout
    finally:
        close()
    assert script.asked.count("/events") == 1 and counted and counted[0] >= 1


def test_a_die_after_a_quiet_while_is_seen_with_its_code(
    tmp_path: Path, short_requests: float
) -> None:
    watch, _counted, close = _watch(tmp_path, Script(("die", 2.5, 137)))
    try:
        assert watch is not None
        assert _seen(watch, 5.0) == "137"
    finally:
        close()


@pytest.mark.parametrize("fate", [("end", 0.3), ("garbage", 0.3)])
def test_a_stream_that_ends_while_the_container_runs_is_followed_by_a_new_one(
    tmp_path: Path, short_requests: float, fate: tuple[Any, ...]
) -> None:
    """A healthy container's stream closed (or broken mid-way): not a stop; the state is
    read again and a new stream watches, and its die is seen."""
    script = Script(fate, ("die", 1.0, 2))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        assert _seen(watch, 0.8) is None, watch.breaks
        assert _seen(watch, 4.0) == "2", (watch.breaks, script.asked)
        said = {"end": "the events stream ended", "garbage": "the events stream broke: "}
        assert len(watch.breaks) == 1 and watch.breaks[0].startswith(said[fate[0]]), watch.breaks
    finally:
        close()
    assert script.asked.count("/events") == 2


def test_a_stream_that_ends_because_the_container_stopped_says_its_code(
    tmp_path: Path, short_requests: float
) -> None:
    script = Script(("end", 0.5))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        script.running, script.code = False, 3
        assert _seen(watch, 3.0) == "3"
        assert watch.lost == ""  # it stopped: the gate says its code
    finally:
        close()


def test_streams_that_keep_breaking_fail_safe(tmp_path: Path, short_requests: float) -> None:
    script = Script(("end", 0.1))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        assert _seen(watch, 5.0) == "?"
        assert len(watch.breaks) == api_gate.RESUBSCRIBE + 1, watch.breaks
        assert watch.lost == (
            "the watch over the Engine API lost the container (the events stream ended, "
            f"{api_gate.RESUBSCRIBE + 1} times in this gate)"
        )
    finally:
        close()


def test_a_container_started_again_while_its_stream_was_down_is_a_stop(
    tmp_path: Path, short_requests: float
) -> None:
    """`docker restart` (or the engine's own restart) leaves the restart count alone: its
    new StartedAt says it stopped; the gate says the watch lost it, and why."""
    script = Script(("end", 0.5))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        script.started_at = "2026-11-29T12:00:09Z"
        assert _seen(watch, 3.0) == "?"
        assert watch.lost == (
            "the watch over the Engine API lost the container (the events stream ended, "
            "and it was started again meanwhile)"
        )
    finally:
        close()


def test_a_version_the_prepare_step_agreed_is_spoken_without_asking_again(
    tmp_path: Path, short_requests: float
) -> None:
    for version, asked in ((None, ["/version"]), ("1.44", [])):
        script = Script(("quiet",))
        watch, _counted, close = _watch(tmp_path, script, version)
        try:
            assert watch is not None
            assert [p for p in script.asked if p == "/version"] == asked
            assert watch.api._version == (version or API_VERSION)  # noqa: SLF001
        finally:
            close()


def test_a_new_stream_refused_after_a_break_fails_safe_and_says_so(
    tmp_path: Path, short_requests: float
) -> None:
    script = Script(("end", 0.3), ("refuse",))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        assert _seen(watch, 3.0) == "?"
        assert watch.lost.startswith(
            "the watch over the Engine API lost the container (the events stream ended, "
            "and a new stream could not be set up: 500 Server Error"
        ), watch.lost
    finally:
        close()


def test_a_stream_whose_closing_fails_is_still_a_break(
    tmp_path: Path, short_requests: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the stream's answer on a transport that died with it raises (paramiko's
    EOFError, seen in CI): the reader still says the stream ended, or the watch is blind."""
    import requests

    real_close = requests.models.Response.close

    def close_on_a_dead_transport(self: requests.models.Response) -> None:
        real_close(self)
        raise EOFError

    monkeypatch.setattr(requests.models.Response, "close", close_on_a_dead_transport)
    script = Script(("end", 0.3), ("die", 0.5, 4))
    watch, _counted, close = _watch(tmp_path, script)
    try:
        assert watch is not None
        assert _seen(watch, 4.0) == "4", (watch.breaks, script.asked)
        assert watch.breaks == ["the events stream ended"]
    finally:
        close()
