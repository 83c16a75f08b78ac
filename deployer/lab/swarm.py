"""`deployer lab up --swarm`: the lab's web hosts as one Docker Swarm.

The first web host (h1) is the manager; the others join as workers. Each engine is
told its own lab address (--advertise-addr): the engines share the machine's hostname
(one UTS namespace), so a node is told apart by its address, never by its hostname.

What the lab can show (kernel without IPVS): host-mode published ports and
`--endpoint-mode dnsrr` work; the ingress routing mesh and VIP endpoints need IPVS
(docs/swarm.md says what was seen).
"""

from __future__ import annotations

import json

from deployer.lab.layout import LabHost, Layout
from deployer.lab.system import run

SWARM_PORT = 2377


def _docker(host: LabHost, *args: str, check: bool = True, timeout: float = 60) -> str:
    proc = run(["docker", "-H", host.docker_host, *args], check=check, timeout=timeout)
    return proc.stdout.strip()


def web_hosts(layout: Layout) -> list[LabHost]:
    return [h for h in layout.hosts() if h.role == "web"]


def swarm_state(host: LabHost) -> tuple[str, bool]:
    """(LocalNodeState, ControlAvailable) of a host's engine: ("inactive", False) when
    it is in no swarm."""
    out = _docker(host, "info", "--format", "{{json .Swarm}}")
    info = json.loads(out or "{}")
    return str(info.get("LocalNodeState") or "inactive"), bool(info.get("ControlAvailable"))


def make_swarm(layout: Layout) -> LabHost:
    """h1 a manager, the other web hosts workers. Idempotent: a joined host stays.
    Returns the manager."""
    hosts = web_hosts(layout)
    manager = hosts[0]
    state, _ = swarm_state(manager)
    if state != "active":
        _docker(
            manager,
            "swarm",
            "init",
            "--advertise-addr",
            manager.address,
            "--listen-addr",
            f"{manager.address}:{SWARM_PORT}",
            # tasks are few and short-lived in the lab: keep little history
            "--task-history-limit",
            "2",
        )
    token = _docker(manager, "swarm", "join-token", "-q", "worker")
    for host in hosts[1:]:
        if swarm_state(host)[0] == "active":
            continue
        _docker(
            host,
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            host.address,
            "--listen-addr",
            f"{host.address}:{SWARM_PORT}",
            f"{manager.address}:{SWARM_PORT}",
        )
    return manager


def leave_swarm(layout: Layout) -> None:
    """Every web host leaves its swarm (workers first), its services and secrets gone."""
    hosts = web_hosts(layout)
    for host in [*hosts[1:], hosts[0]]:
        if host.docker_sock.exists() and swarm_state(host)[0] != "inactive":
            _docker(host, "swarm", "leave", "--force", check=False)
