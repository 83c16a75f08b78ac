"""The health of a swarm a playbook's `target: swarm` plays run on: its nodes (ready,
availability, engine version) and its services (running/wanted tasks, update state).
Pure: reads what targets/swarm.py fetched; never prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.docker.swarm_state import Node, Standing
from deployer.errors import EXIT_FAILED, EXIT_OK


@dataclass
class SwarmHealth:
    manager: str
    nodes: list[Node]
    services: dict[str, Standing]
    findings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.findings else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "nodes": [n.__dict__ for n in self.nodes],
            "services": {name: s.summary() for name, s in self.services.items()},
            "findings": self.findings,
        }


def judge(manager: str, nodes: list[Node], services: dict[str, Standing | None]) -> SwarmHealth:
    """A node not ready or not active, a service missing, short of tasks, or whose last
    update failed: each a finding."""
    findings = [
        f"node {n.name}: {n.state}, {n.availability}"
        for n in nodes
        if n.state != "ready" or n.availability != "active"
    ]
    found: dict[str, Standing] = {}
    for name, s in services.items():
        if s is None:
            findings.append(f"service {name}: missing")
            continue
        found[name] = s
        if s.running < s.wanted:
            findings.append(f"service {name}: {s.running}/{s.wanted} tasks running")
        if s.phase in ("rolled_back", "paused"):
            findings.append(f"service {name}: last update {s.phase.replace('_', ' ')}")
    return SwarmHealth(manager, nodes, found, findings)


def text(h: SwarmHealth) -> str:
    lines = [f"swarm (manager {h.manager}):"]
    for n in h.nodes:
        lead = " leader" if n.leader else ""
        lines.append(
            f"  node {n.name:<12} {n.address:<16} {n.role}{lead}, {n.state}, {n.availability}, "
            f"engine {n.engine}"
        )
    for name, s in h.services.items():
        lines.append(f"  service {name:<16} {s.running}/{s.wanted} on {s.image} ({s.phase})")
    for f in h.findings:
        lines.append(f"  ! {f}")
    return "\n".join(lines) + "\n"
