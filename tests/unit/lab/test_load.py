"""The lab's load generator against a local HTTP server: it counts what it sees."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from deployer.lab.load import Load


class Handler(http.server.BaseHTTPRequestHandler):
    version = "v1"
    broken = False

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if Handler.broken:
            self.close_connection = True
            self.wfile.write(b"")  # no response at all: the client sees the connection end
            return
        if self.path == "/cgi-bin/slow":
            time.sleep(0.3)
        if self.path == "/cgi-bin/fail":  # an answer, but a server error
            self.send_error(500, "v9 broke")
            return
        body = f"page {Handler.version} host={self.headers.get('Host')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    Handler.version, Handler.broken = "v1", False
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield ("127.0.0.1", srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def test_counts_versions_slow_requests_and_no_failures(server) -> None:
    with Load({"a": server}, interval=0.01, slow_every=0.1) as load:
        time.sleep(0.4)
        switched = time.monotonic()
        Handler.version = "v2"
        time.sleep(0.4)
    assert not load.failed(), load.summary()
    # a slow request started before the switch may answer after it (that is its point)
    assert load.versions_between(0.0, switched - 0.05, kind="fast")["a"] == {"v1"}
    assert load.versions_after(switched + 0.05)["a"] == {"v2"}
    assert load.slow_completed() >= 2, load.summary()
    counts = load.counts()["a"]
    assert counts["v1"] > 5 and counts["v2"] > 5, counts
    first1, last1 = load.first_time_of("v1", "a"), load.last_time_of("v1", "a")
    first2, last2 = load.first_time_of("v2", "a"), load.last_time_of("v2", "a")
    assert first1 and last1 and first2 and last2, load.summary()
    # nothing started after the switch saw v1; v2 answered only what started after it,
    # or a slow request (0.3 s) started just before it
    assert first1 < last1 < switched + 0.05 < last2
    assert switched - 0.6 < first2 < last2
    assert load.first_time_of("v3", "a") is None and load.last_time_of("v1", "b") is None
    assert all(r.outcome == 200 for r in load.records)


def test_a_server_that_stops_answering_is_counted_as_failed(server) -> None:
    with Load({"a": server}, interval=0.01, slow_path=None) as load:
        time.sleep(0.2)
        Handler.broken = True
        time.sleep(0.2)
    failed = load.failed()
    assert failed and all(r.status is None for r in failed), load.summary()
    assert load.summary()["failed"] == len(failed)


def test_a_closed_port_fails_every_request_and_stop_is_prompt() -> None:
    t0 = time.monotonic()
    with Load({"gone": ("127.0.0.1", 9)}, interval=0.02, slow_every=0.1) as load:
        time.sleep(0.3)
    assert time.monotonic() - t0 < 3
    assert load.records and len(load.failed()) == len(load.records)


def test_host_header_is_sent(server) -> None:
    with Load({"a": server}, interval=0.05, slow_path=None, host_header="b.example") as load:
        time.sleep(0.2)
    assert load.records and all(r.ok for r in load.records)
    # the handler echoes Host: the load saw the page for b.example (version parsed: v1)
    assert load.versions_after(0.0)["a"] == {"v1"}


def test_a_server_error_is_a_failure_with_its_status(server) -> None:
    with Load({"a": server}, interval=0.05, slow_path="/cgi-bin/fail", slow_every=0.1) as load:
        time.sleep(0.35)
    failed = load.failed()
    assert failed and {r.kind for r in failed} == {"slow"}, load.summary()
    assert {r.outcome for r in failed} == {500} and {r.status for r in failed} == {500}
    assert load.slow_completed() == 0 and load.summary()["failed"] == len(failed)
    assert load.counts()["a"]["failed"] == len(failed) and load.counts()["a"]["v1"] > 0
