"""A play's user-defined networks on one host: which exist (read by the prepare step) and
the script that creates the missing ones. Pure builders. deployer never removes a network:
a network outlives the containers on it, and another play may use it."""

from __future__ import annotations

from collections.abc import Sequence

from deployer.docker.shell import sh
from deployer.model import NetworkSpec

MARK_NETWORKS = "--deployer-networks--"


def list_lines() -> list[str]:
    """Shell: MARK_NETWORKS, then the name of every network the host has, one a line."""
    return [f"echo {MARK_NETWORKS}", "docker network ls --format '{{.Name}}'"]


def parse_present(stdout: str) -> set[str]:
    """list_lines' output: the names after MARK_NETWORKS (up to the next marker)."""
    names: set[str] = set()
    inside = False
    for line in stdout.splitlines():
        line = line.strip()
        if line == MARK_NETWORKS:
            inside = True
        elif inside and line.startswith("--deployer-"):
            break
        elif inside and line:
            names.add(line)
    return names


def missing(networks: Sequence[NetworkSpec], present: set[str]) -> list[NetworkSpec]:
    return [n for n in networks if n.name not in present]


def upkeep(networks: Sequence[NetworkSpec]) -> tuple[str, ...]:
    """What the missing networks need, in words (an external one cannot be made here)."""
    return tuple(
        f"network {n.name}: external, missing on this host"
        if n.external
        else f"network {n.name}: to be created ({n.driver}{', internal' if n.internal else ''})"
        for n in networks
    )


def create_argv(net: NetworkSpec) -> list[str]:
    argv = ["docker", "network", "create", "--driver", net.driver]
    for key, value in net.options:
        argv += ["--opt", f"{key}={value}"]
    if net.internal:
        argv.append("--internal")
    return [*argv, net.name]


def create_script(networks: Sequence[NetworkSpec]) -> str:
    """Create each network unless it exists (another run may just have made it); an external
    one that is missing fails with its name."""
    lines = ["set -u"]
    for net in networks:
        exists = f"docker network inspect {sh([net.name])} >/dev/null 2>&1"
        if net.external:
            why = f"network {net.name} is external (made elsewhere) and does not exist on this host"
            lines.append(f"{exists} || {{ echo {sh([why])} >&2; exit 1; }}")
        else:
            lines.append(
                f"{exists} || err=$({sh(create_argv(net))} 2>&1 >/dev/null) || "
                f'{{ {exists} || {{ echo "$err" >&2; exit 1; }}; }}'
            )
    return "\n".join(lines) + "\n"
