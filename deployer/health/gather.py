"""Gather a fleet's health: per host, in parallel, one SSH round trip of facts + tunnel probes.

Never prints, never exits: returns a HealthReport. A host that cannot be reached
is a verdict ("unreachable"), not an exception.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from deployer import parallel
from deployer.errors import DeployerError
from deployer.health import facts as factsmod
from deployer.health.model import Finding, HealthReport, HostHealth
from deployer.health.probes import run_probes
from deployer.health.thresholds import Thresholds, from_vars
from deployer.health.verdict import judge, unreachable
from deployer.model import ContainerSpec, HostConn, Playbook
from deployer.targets import Observer

FACTS_TIMEOUT = 30.0
Connect = Callable[[HostConn], Observer]


def desired(playbook: Playbook) -> tuple[list[HostConn], dict[str, tuple[ContainerSpec, ...]]]:
    """The playbook's hosts (first seen order) and each one's declared containers, all plays."""
    hosts: dict[str, HostConn] = {}
    specs: dict[str, dict[str, ContainerSpec]] = {}
    for play in playbook.plays:
        for conn in play.hosts:
            hosts.setdefault(conn.name, conn)
            if play.target == "swarm":  # services, not containers of this host: health/swarm.py
                continue
            for spec in play.containers.get(conn.name, ()):
                specs.setdefault(conn.name, {})[spec.name] = spec
                if spec.state == "absent":  # to be removed: nothing to judge
                    del specs[conn.name][spec.name]
    return list(hosts.values()), {h: tuple(s.values()) for h, s in specs.items()}


def check_host(
    host: Observer, conn: HostConn, specs: Sequence[ContainerSpec] | None, thresholds: Thresholds
) -> HostHealth:
    """One host: connect, one facts command, the probes, the verdict."""
    started = time.monotonic()
    try:
        raw = host.health_facts(FACTS_TIMEOUT)
        out, err, latency, before, after = raw.out, raw.err, raw.latency, raw.before, raw.after
        facts = factsmod.parse(out)
        probes = run_probes(host, specs or (), facts)
    except DeployerError as error:
        health = unreachable(conn.name, conn.address, str(error))
        health.took_s = time.monotonic() - started
        return health
    offset = clock_offset(facts.clock, before, after)
    health = judge(
        conn.name,
        conn.address,
        facts,
        specs=specs,
        probes=probes,
        thresholds=thresholds,
        clock_offset=offset,
        ssh_latency=latency,
        now=time.time(),
    )
    if not out.strip():
        health.findings.append(
            Finding(
                "unhealthy",
                f"the facts command printed nothing: {err.strip()[-200:] or 'no error text'}",
            )
        )
        health.verdict = "unhealthy"
    health.engine = host.engine_path
    health.took_s = time.monotonic() - started
    return health


def clock_offset(remote: float | None, before: float, after: float) -> float | None:
    """The host's clock minus ours: 0 when its reading falls inside our [before, after] window
    (the command ran somewhere in it), else the distance to the nearer edge."""
    if remote is None:
        return None
    if remote < before:
        return remote - before
    return remote - after if remote > after else 0.0


def with_vars(playbook: Playbook, variables: dict[str, object]) -> Playbook:
    """The playbook whose hosts carry VARIABLES over their own (the `-e` ones, which win over
    all others, as in Ansible): thresholds set with `-e` apply with a playbook too."""
    if not variables:
        return playbook
    plays = tuple(
        dataclasses.replace(
            play,
            hosts=tuple(dataclasses.replace(h, vars={**h.vars, **variables}) for h in play.hosts),
        )
        for play in playbook.plays
    )
    return dataclasses.replace(playbook, plays=plays)


def thresholds_for(hosts: Sequence[HostConn]) -> dict[str, Thresholds]:
    """Each host's thresholds from its variables; ConfigError naming every bad one."""
    from deployer.errors import ConfigError

    out: dict[str, Thresholds] = {}
    problems: list[str] = []
    for conn in hosts:
        try:
            out[conn.name] = from_vars(conn.name, conn.vars)
        except ConfigError as err:
            problems += [p for p in err.problems if p not in problems]
    if problems:
        raise ConfigError(problems)
    return out


def gather(
    hosts: list[HostConn],
    playbook: Playbook | None,
    engines: dict[str, Observer] | None = None,
    forks: int = 20,
    *,
    connect: Connect | None = None,
) -> HealthReport:
    """The fleet's health. `engines`, when given, is a cache the caller keeps (and closes):
    connections stay open across calls (for --watch). `connect` makes a host's engine
    (default: the SSH engine). Hosts of the playbook are added to `hosts` (a playbook's
    host carries the play's variables)."""
    t0 = time.monotonic()
    specs: dict[str, tuple[ContainerSpec, ...]] = {}
    conns = {h.name: h for h in hosts}
    if playbook is not None:
        play_hosts, specs = desired(playbook)
        for conn in play_hosts:
            conns[conn.name] = conn
        order = [h.name for h in hosts] + [
            h.name for h in play_hosts if h.name not in {x.name for x in hosts}
        ]
    else:
        order = [h.name for h in hosts]
    targets = [conns[n] for n in order]
    limits = thresholds_for(targets)
    cache = engines if engines is not None else {}
    if connect is None:
        from deployer.targets.ssh import SshEngine

        connect = SshEngine
    make = connect
    for conn in targets:
        if conn.name not in cache:
            cache[conn.name] = make(conn)

    def one(conn: HostConn) -> HostHealth:
        wanted = specs.get(conn.name, ()) if playbook is not None else None
        try:
            return check_host(cache[conn.name], conn, wanted, limits[conn.name])
        finally:
            if engines is None:  # a one-off report: let the host go now, not at the end
                cache[conn.name].close()  # (1,000 open transports' threads starve a run)

    try:
        done = parallel.each(targets, one, forks)
    finally:
        if engines is None:
            for e in cache.values():
                e.close()
    for d in done:  # check_host turns our own errors into verdicts: anything else is a bug
        if d.error is not None:
            raise d.error
    results = [d.value for d in done if d.value is not None]
    for conn, result in zip(targets, results, strict=True):
        if not result.reachable and engines is not None:
            cache.pop(conn.name).close()  # reconnect next round
    return HealthReport(
        hosts=results,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        playbook=playbook.path if playbook else None,
        took_s=time.monotonic() - t0,
        thresholds={n: limits[n].as_dict() for n in order},
    )
