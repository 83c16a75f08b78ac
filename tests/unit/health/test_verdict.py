"""verdict.judge: facts (+ playbook wishes, probe results) -> one verdict and reasons in words."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from deployer.health.facts import DiskUse, HostFacts, OtherContainer
from deployer.health.model import ProbeResult
from deployer.health.thresholds import Thresholds
from deployer.health.verdict import judge, unreachable
from deployer.model import ContainerSpec, HealthSpec, Observed, PortSpec

WEB_ID = "c" * 64
SPEC = ContainerSpec(
    name="web",
    image="reg/app:1.4.2",
    ports=(PortSpec(80, host_port=8080),),
    health=HealthSpec(kind="http", port=80, path="/healthz"),
)


def obs(**kw: Any) -> Observed:
    base: dict[str, Any] = dict(
        id=WEB_ID,
        name="web",
        image="reg/app:1.4.2",
        image_id="sha256:1",
        labels={"deployer.managed": "true", "deployer.name": "web"},
        logical="web",
        managed=True,
        status="running",
        running=True,
        health="healthy",
        ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
    )
    base.update(kw)
    return Observed(**base)


def ps(
    name: str = "web",
    image: str = "reg/app:1.4.2",
    state: str = "running",
    ports: str = "0.0.0.0:8080->80/tcp",
    managed: bool = True,
) -> OtherContainer:
    return OtherContainer(
        id=name * 3, name=name, image=image, state=state, ports=ports, managed=managed
    )


def facts(**kw: Any) -> HostFacts:
    base = HostFacts(
        clock=0.0,
        engine_version="20.10",
        data_root="/var/lib/docker",
        disks=[DiskUse("/", "/", 100, 50, 50, 50)],
        mem_total_kb=1000,
        mem_available_kb=500,
        load=(0.5, 0.5, 0.5),
        cpus=2,
        uptime_s=100.0,
        containers=[obs()],
        others=[ps()],
        events_ok=True,
        listening={22, 8080},
    )
    return dataclasses.replace(base, **kw)


OK_PROBE = ProbeResult(
    "http", "127.0.0.1:8080/healthz", True, "HTTP 200 on /healthz in 2 ms", 200, 2.0
)
BAD_PROBE = ProbeResult(
    "http", "127.0.0.1:8080/healthz", False, "HTTP 502 on /healthz (wants 200) in 2 ms", 502, 2.0
)

CASES: list[tuple[str, HostFacts, dict[str, Any], str, list[str]]] = [
    ("all-good", facts(), {}, "healthy", []),
    (
        "disk-warn",
        facts(disks=[DiskUse("/", "/", 100, 93, 7, 93)]),
        {},
        "degraded",
        ["disk / 93% used"],
    ),
    (
        "disk-crit",
        facts(disks=[DiskUse("/", "/", 100, 98, 2, 98)]),
        {},
        "unhealthy",
        ["disk / 98% used"],
    ),
    (
        "data-root-same-mount-once",
        facts(
            disks=[
                DiskUse("/", "/", 100, 93, 7, 93),
                DiskUse("/var/lib/docker", "/", 100, 93, 7, 93),
            ]
        ),
        {},
        "degraded",
        ["disk / 93% used"],
    ),
    (
        "data-root-own-mount",
        facts(
            disks=[
                DiskUse("/", "/", 100, 10, 90, 10),
                DiskUse("/var/lib/docker", "/var/lib/docker", 100, 95, 5, 95),
            ]
        ),
        {},
        "degraded",
        ["disk /var/lib/docker (Docker data) 95% used"],
    ),
    (
        "low-threshold",
        facts(),
        {"thresholds": Thresholds(disk_warn=40)},
        "degraded",
        ["disk / 50% used"],
    ),
    ("memory", facts(mem_available_kb=50), {}, "degraded", ["memory 5% available"]),
    ("load", facts(load=(4.5, 1, 1)), {}, "degraded", ["load 4.50 on 2 CPUs"]),
    ("clock", facts(), {"clock_offset": -12.5}, "degraded", ["clock 12.5 s behind the controller"]),
    (
        "engine-down",
        facts(engine_version=None, engine_error="Cannot connect", containers=[], others=[]),
        {},
        "unhealthy",
        ["Docker engine not answering: Cannot connect"],
    ),
    (
        "stopped",
        facts(containers=[obs(status="exited", running=False, health="unhealthy")]),
        {},
        "unhealthy",
        ["web: exited"],
    ),
    (
        "crash-loop",
        facts(
            containers=[obs(status="restarting", running=False, restarts=7)],
            recent_dies={WEB_ID: 5},
        ),
        {},
        "unhealthy",
        ["web: restarting", "web: 5 restarts in 10 min"],
    ),
    ("old-restarts-only", facts(containers=[obs(restarts=9)], recent_dies={}), {}, "healthy", []),
    (
        "restarts-degraded",
        facts(containers=[obs(restarts=4)], recent_dies={WEB_ID: 4}),
        {},
        "degraded",
        ["web: 4 restarts in 10 min"],
    ),
    (
        "docker-unhealthy",
        facts(containers=[obs(health="unhealthy")]),
        {},
        "unhealthy",
        ["web: Docker health check unhealthy"],
    ),
    (
        "docker-starting",
        facts(containers=[obs(health="starting")]),
        {},
        "degraded",
        ["web: Docker health check still starting"],
    ),
    (
        "docker-starting-long",
        facts(containers=[obs(health="starting", started_at="2026-01-01T00:00:00Z")]),
        {"now": 1767225600.0 + 300},
        "degraded",
        ["web: Docker health check still starting"],
    ),
    (
        "docker-starting-just-deployed",
        facts(containers=[obs(health="starting", started_at="2026-01-01T00:00:00.5Z")]),
        {"now": 1767225600.0 + 10},
        "healthy",
        [],
    ),
    (
        "retained-ignored",
        facts(
            containers=[
                obs(),
                obs(id="d" * 64, name="web_prev_dddd", status="exited", running=False),
            ]
        ),
        {},
        "healthy",
        [],
    ),
    ("playbook-ok", facts(), {"specs": [SPEC], "probes": {"web": OK_PROBE}}, "healthy", []),
    (
        "http-502",
        facts(),
        {"specs": [SPEC], "probes": {"web": BAD_PROBE}},
        "unhealthy",
        ["web: HTTP 502 on /healthz (wants 200) in 2 ms"],
    ),
    (
        "version-drift",
        facts(containers=[obs(image="reg/app:1.4.1")]),
        {"specs": [SPEC]},
        "degraded",
        ["web runs app:1.4.1, playbook wants 1.4.2"],
    ),
    (
        "repo-drift",
        facts(containers=[obs(image="other/thing:2")]),
        {"specs": [SPEC]},
        "degraded",
        ["web runs other/thing:2, playbook wants reg/app:1.4.2"],
    ),
    (
        "missing",
        facts(containers=[], others=[], listening={22}),
        {"specs": [SPEC]},
        "unhealthy",
        ["web: missing (the playbook declares it)"],
    ),
    (
        "manual-run",
        facts(containers=[], others=[ps(image="reg/app:1.4.1", managed=False)]),
        {"specs": [SPEC]},
        "degraded",
        [
            "web: not started by deployer (a container of that name runs reg/app:1.4.1)",
            "web runs app:1.4.1, playbook wants 1.4.2",
        ],
    ),
    (
        "port-taken-by-container",
        facts(containers=[], others=[ps(name="squatter", image="x:1", managed=False)]),
        {"specs": [SPEC]},
        "unhealthy",
        [
            "web: missing (the playbook declares it)",
            "web: port 8080 is taken by container squatter (x:1)",
        ],
    ),
    (
        "port-taken-by-process",
        facts(containers=[], others=[], listening={22, 8080}),
        {"specs": [SPEC]},
        "unhealthy",
        [
            "web: missing (the playbook declares it)",
            "web: port 8080 is taken by another process on the host",
        ],
    ),
    (
        "undeclared-managed-still-checked",
        facts(containers=[obs(status="exited", running=False)]),
        {"specs": []},
        "unhealthy",
        ["web: exited"],
    ),
]


@pytest.mark.parametrize("name, f, kw, verdict, reasons", CASES, ids=[c[0] for c in CASES])
def test_judge(
    name: str, f: HostFacts, kw: dict[str, Any], verdict: str, reasons: list[str]
) -> None:
    args: dict[str, Any] = {
        "specs": None,
        "probes": {},
        "thresholds": Thresholds(),
        "clock_offset": 0.0,
    }
    args.update(kw)
    host = judge("h1", "10.0.0.1", f, **args)
    assert host.verdict == verdict, host.reasons
    for want in reasons:
        assert any(r.startswith(want) for r in host.reasons), (want, host.reasons)
    assert len(host.reasons) == len(reasons), host.reasons


def test_containers_report_digest_ports_and_wants() -> None:
    from deployer.model import ImageInfo

    f = facts(images={"sha256:1": ImageInfo("sha256:1", ("reg/app@sha256:feed",))})
    host = judge("h1", "a", f, specs=[SPEC], probes={"web": OK_PROBE}, thresholds=Thresholds())
    (c,) = host.containers
    assert (c.digest, c.ports, c.wanted_image, c.declared, c.probe) == (
        "sha256:feed",
        ["0.0.0.0:8080->80/tcp"],
        "reg/app:1.4.2",
        True,
        OK_PROBE,
    )


def test_unreachable() -> None:
    h = unreachable("h1", "10.0.0.1", "h1: cannot connect to 10.0.0.1:22: refused")
    assert (h.verdict, h.reachable, h.reasons) == (
        "unreachable",
        False,
        ["h1: cannot connect to 10.0.0.1:22: refused"],
    )
