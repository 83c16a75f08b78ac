"""A play's user-defined networks on one host: which exist (read by the prepare step) and
the script that creates the missing ones. Pure builders. deployer never removes a network:
a network outlives the containers on it, and another play may use it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deployer.docker.shell import sh
from deployer.model import NetworkSpec

MARK_NETWORKS = "--deployer-networks--"


@dataclass(frozen=True)
class Present:
    """A network as the host has it."""

    driver: str
    internal: bool
    options: dict[str, str]


def list_lines(networks: Sequence[NetworkSpec]) -> list[str]:
    """Shell: MARK_NETWORKS, then each of the play's networks the host has, one a line: name,
    driver, internal, options (JSON), tab-separated. Those it lacks are left out (inspect
    prints the others and fails for them: that is not a failure of the step)."""
    fmt = "{{.Name}}\t{{.Driver}}\t{{.Internal}}\t{{json .Options}}"
    names = sh([n.name for n in networks])
    return [
        f"echo {MARK_NETWORKS}",
        f"docker network inspect --format {sh([fmt])} -- {names} 2>/dev/null || true",
    ]


def parse_present(stdout: str) -> dict[str, Present]:
    """list_lines' output: the networks after MARK_NETWORKS (up to the next marker)."""
    found: dict[str, Present] = {}
    inside = False
    for line in stdout.splitlines():
        line = line.strip()
        if line == MARK_NETWORKS:
            inside = True
        elif inside and line.startswith("--deployer-"):
            break
        elif inside and line.count("\t") >= 3:  # name, driver, internal, options
            name, _, rest = line.partition("\t")
            driver, _, rest = rest.partition("\t")
            internal, _, raw = rest.partition("\t")
            try:
                loaded = json.loads(raw) if raw else {}
            except ValueError:
                loaded = {}
            options = {str(k): str(v) for k, v in (loaded or {}).items()}
            found[name] = Present(driver, internal == "true", options)
    return found


def missing(networks: Sequence[NetworkSpec], present: Mapping[str, object]) -> list[NetworkSpec]:
    return [n for n in networks if n.name not in present]


def clashes(networks: Sequence[NetworkSpec], present: Mapping[str, Present]) -> list[str]:
    """The play's networks that exist on the host but not as the play says (another driver,
    internal or not, an option with another value). deployer never removes or recreates a
    network (containers of other plays may be on it): the host fails before any change, and
    the message says what differs. An external network is taken as it is."""
    out = []
    for net in networks:
        have = present.get(net.name)
        if have is None or net.external:
            continue
        diffs = []
        if net.driver_given and have.driver != net.driver:
            diffs.append(f"its driver is {have.driver}, the play says {net.driver}")
        if have.internal != net.internal:
            diffs.append(
                "it is internal, the play says not"
                if have.internal
                else "it is not internal, the play says internal: true"
            )
        diffs += [
            f"its option {k} is {have.options.get(k, '(unset)')}, the play says {v}"
            for k, v in net.options
            if have.options.get(k) != v
        ]
        if diffs:
            out.append(
                f"network {net.name} exists on this host otherwise: {'; '.join(diffs)}. "
                "deployer never recreates a network: remove it (docker network rm, once no "
                "container uses it), make the play say what it is, or mark it external: true"
            )
    return out


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
