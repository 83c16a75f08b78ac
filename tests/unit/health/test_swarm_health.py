"""health/swarm.py: a swarm's nodes and services judged."""

from __future__ import annotations

import json

from deployer.docker.swarm_state import Node, Standing
from deployer.health.swarm import judge, text


def node(name: str, state: str = "ready", availability: str = "active") -> Node:
    return Node(name, name, "10.0.0.1", "worker", state, availability, "20.10")


def test_all_well_is_exit_0_and_shown() -> None:
    h = judge("h1", [node("h1"), node("h2")], {"web": Standing("converged", "app:2", 3, 3)})
    assert h.exit_code == 0 and not h.findings
    assert "service web" in text(h) and "3/3 on app:2" in text(h)
    assert json.dumps(h.to_dict())


def test_each_problem_is_a_finding_and_exit_3() -> None:
    h = judge(
        "h1",
        [node("h1"), node("h2", state="down"), node("h3", availability="drain")],
        {
            "web": Standing("rolled_back", "app:1", 2, 3),
            "api": None,
        },
    )
    assert h.exit_code == 3
    assert h.findings == [
        "node h2: down, active",
        "node h3: ready, drain",
        "service web: 2/3 tasks running",
        "service web: last update rolled back",
        "service api: missing",
    ]
