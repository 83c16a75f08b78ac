"""A one-off health report lets each host's connection go as soon as that host is judged,
not at the end (1,000 open paramiko transports' threads starved a 1,000-host report);
a watch (`engines` given) keeps them for its next round."""

from __future__ import annotations

import time

from deployer.errors import Unreachable
from deployer.health.gather import gather
from deployer.model import HostConn
from deployer.targets import HealthRaw


class Quiet:
    """An engine whose host does not answer; it logs what is asked of it."""

    def __init__(self, conn: HostConn, log: list[str], answers: bool = False) -> None:
        self.conn, self.log, self.answers = conn, log, answers

    def health_facts(self, timeout: float) -> HealthRaw:
        self.log.append(f"facts {self.conn.name}")
        if self.answers:  # reachable, with nothing to say
            return HealthRaw("", "", 0.001, time.time(), time.time())
        raise Unreachable(f"{self.conn.name}: no answer")

    def probe_tcp(self, address: str, port: int, timeout: float = 3.0) -> float:
        raise AssertionError("no probe without facts")

    def probe_http(
        self, address: str, port: int, path: str, timeout: float = 3.0
    ) -> tuple[int, float]:
        raise AssertionError("no probe without facts")

    def close(self) -> None:
        self.log.append(f"close {self.conn.name}")

    @property
    def engine_path(self) -> str:
        return "api"


def test_each_host_is_let_go_as_soon_as_it_is_judged() -> None:
    log: list[str] = []
    hosts = [HostConn("h1", "10.0.0.1"), HostConn("h2", "10.0.0.2")]
    report = gather(hosts, None, forks=1, connect=lambda c: Quiet(c, log))
    assert [h.reachable for h in report.hosts] == [False, False]
    assert log[:3] == ["facts h1", "close h1", "facts h2"]


def test_a_watch_keeps_its_connections() -> None:
    log: list[str] = []
    cache: dict[str, Quiet] = {}
    hosts = [HostConn("h1", "10.0.0.1")]
    connect = lambda c: Quiet(c, log, answers=True)  # noqa: E731
    report = gather(hosts, None, engines=cache, forks=1, connect=connect)  # type: ignore[arg-type]
    assert report.hosts[0].reachable
    assert log == ["facts h1"] and list(cache) == ["h1"]
    log.clear()
    gather(hosts, None, forks=1, connect=connect)
    assert log[:2] == ["facts h1", "close h1"]
