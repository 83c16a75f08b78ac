"""Notifications (issue 15): what a run and a health watch say, and delivery through
Apprise to a real HTTP receiver (json://), bounded in time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.errors import ConfigError
from deployer.health.model import Finding, HealthReport, HostHealth
from deployer.report import notify as n


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what is POSTed (or hangs when told to)."""

    def __init__(self, hang: float = 0.0) -> None:
        self.got: list[dict[str, object]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hang:
                    time.sleep(hang)
                outer.got.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def report() -> RunReport:
    web = ContainerOutcome("web", "replace", new_image="reg/web:v2", health="passed")
    return RunReport(
        playbook="site.yml",
        took=3.2,
        run="0123456789abcdef",
        hosts=[
            HostOutcome("h1", status="changed", containers=[web]),
            HostOutcome("h2", status="failed", reason="web: HTTP 500 on /; rolled back to v1"),
            HostOutcome("h3", status="unreachable", reason="connection refused"),
        ],
    )


def test_a_finished_run_says_each_hosts_outcome_and_why(receiver: Receiver) -> None:
    message = n.run_finished("deploy", report(), "ops@ctl")
    assert message.title == "deployer deploy FAILED: site.yml" and message.kind == "failure"
    assert "1 changed, 1 failed, 1 unreachable; exit 3; took 3.2s; by ops@ctl" in message.body
    assert "- h1: changed (web replace -> reg/web:v2)" in message.body
    assert "- h2: failed: web: HTTP 500 on /; rolled back to v1" in message.body
    assert "- h3: unreachable: connection refused" in message.body
    assert "run 0123456789abcdef" in message.body
    assert n.Notifier([receiver.url]).send(message) is None
    (got,) = receiver.got
    assert got["title"] == message.title and got["message"] == message.body
    assert got["type"] == "failure"


def test_a_receiver_that_hangs_does_not_hold_the_run() -> None:
    slow = Receiver(hang=5.0)
    try:
        t0 = time.monotonic()
        problem = n.Notifier([slow.url], timeout=0.5).send(n.Message("t", "b", "info"))
        assert time.monotonic() - t0 < 2.0
        assert problem == "notification to json://… not delivered within 0.5s"
    finally:
        slow.close()


def test_an_unknown_url_is_an_input_error_that_does_not_show_the_token() -> None:
    with pytest.raises(ConfigError) as info:
        n.Notifier(["nosuchscheme://user:s3cret-token@host/x"])
    assert "s3cret-token" not in str(info.value) and "nosuchscheme://…" in str(info.value)


def test_a_failed_delivery_is_said_without_the_url() -> None:
    problem = n.Notifier(["json://127.0.0.1:9/t0ken"], timeout=5).send(n.Message("t", "b", "info"))
    assert problem == "notification to json://… failed"


def health(verdicts: dict[str, str], at: str) -> HealthReport:
    hosts = [
        HostHealth(
            name,
            name,
            verdict=v,  # type: ignore[arg-type]
            findings=[Finding(v, "HTTP 502 on /", "web")] if v != "healthy" else [],  # type: ignore[arg-type]
        )
        for name, v in verdicts.items()
    ]
    return HealthReport(hosts, at)


def test_a_watch_says_each_change_and_each_recovery_once() -> None:
    watch = n.VerdictWatch()
    assert watch.changes(health({"h1": "healthy", "h2": "healthy"}, "t0")) == []
    (down,) = watch.changes(health({"h1": "unhealthy", "h2": "healthy"}, "t1"))
    assert down.title == "deployer health: h1 unhealthy" and down.kind == "failure"
    assert "h1: healthy -> unhealthy at t1" in down.body and "web: HTTP 502 on /" in down.body
    assert watch.changes(health({"h1": "unhealthy", "h2": "healthy"}, "t2")) == []  # once
    (up,) = watch.changes(health({"h1": "healthy", "h2": "healthy"}, "t3"))
    assert up.title == "deployer health: h1 recovered" and up.kind == "success"


def test_a_watch_that_starts_on_a_sick_host_says_so_at_once() -> None:
    (first,) = n.VerdictWatch().changes(health({"h1": "degraded"}, "t0"))
    assert first.title == "deployer health: h1 degraded" and first.kind == "warning"


def test_urls_come_from_flags_and_the_inventory() -> None:
    urls = n.urls_from(["json://a"], [{"deployer_notify": ["json://b", "json://a"]}, {}])
    assert urls == ["json://a", "json://b"]
    assert n.urls_from([], [{"deployer_notify": "json://c"}]) == ["json://c"]
    with pytest.raises(ConfigError):
        n.urls_from([], [{"deployer_notify": 3}])


def test_many_changes_in_one_round_are_sent_at_once_within_one_timeout() -> None:
    """One at a time, 50 unreachable hosts stalled a watch for 50 x 10 s (review 2, #14)."""
    slow = Receiver(hang=5.0)
    try:
        t0 = time.monotonic()
        problems = n.Notifier([slow.url], timeout=0.5).send_all(
            [n.Message(f"t{i}", "b", "info") for i in range(8)]
        )
        assert time.monotonic() - t0 < 3.0
        assert problems == ["notification to json://… not delivered within 0.5s"]
    finally:
        slow.close()


def test_a_url_apprise_chokes_on_is_an_input_error() -> None:
    with pytest.raises(ConfigError):
        n.Notifier(["json://h/tok\udcff"])
