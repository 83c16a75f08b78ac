"""Gather a fleet's health: per host, in parallel, one SSH round trip of facts + tunnel probes.

Never prints, never exits: returns a HealthReport. A host that cannot be reached
is a verdict ("unreachable"), not an exception.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from deployer.errors import DeployerError
from deployer.health import facts as factsmod
from deployer.health.model import Finding, HealthReport, HostHealth
from deployer.health.probes import run_probes
from deployer.health.thresholds import Thresholds, from_vars
from deployer.health.verdict import judge, unreachable
from deployer.model import ContainerSpec, HostConn, Playbook
from deployer.remote.ssh import Session

FACTS_TIMEOUT = 30.0
SessionFactory = Callable[[HostConn], Session]


def desired(playbook: Playbook) -> tuple[list[HostConn], dict[str, tuple[ContainerSpec, ...]]]:
    """The playbook's hosts (first seen order) and each one's declared containers, all plays."""
    hosts: dict[str, HostConn] = {}
    specs: dict[str, dict[str, ContainerSpec]] = {}
    for play in playbook.plays:
        for conn in play.hosts:
            hosts.setdefault(conn.name, conn)
            for spec in play.containers.get(conn.name, ()):
                specs.setdefault(conn.name, {})[spec.name] = spec
    return list(hosts.values()), {h: tuple(s.values()) for h, s in specs.items()}


def _latency(session: Session) -> float:
    t0 = time.monotonic()
    session.transport.global_request("keepalive@openssh.com", wait=True)
    return time.monotonic() - t0


def check_host(session: Session, conn: HostConn, specs: Sequence[ContainerSpec] | None,
               thresholds: Thresholds) -> HostHealth:
    """One host: connect, one facts command, the probes, the verdict."""
    started = time.monotonic()
    try:
        session.open()
        latency = _latency(session)
        before = time.time()
        chan = session.start(factsmod.script())
        out, err, _code = session.collect(chan, FACTS_TIMEOUT, time.monotonic())
        after = time.time()
        facts = factsmod.parse(out)
        probes = run_probes(session, specs or (), facts)
    except DeployerError as error:
        health = unreachable(conn.name, conn.address, str(error))
        health.took_s = time.monotonic() - started
        return health
    offset = clock_offset(facts.clock, before, after)
    health = judge(conn.name, conn.address, facts, specs=specs, probes=probes,
                   thresholds=thresholds, clock_offset=offset, ssh_latency=latency, now=time.time())
    if not out.strip():
        health.findings.append(Finding("unhealthy", f"the facts command printed nothing: "
                                                    f"{err.strip()[-200:] or 'no error text'}"))
        health.verdict = "unhealthy"
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
    plays = tuple(dataclasses.replace(play, hosts=tuple(
        dataclasses.replace(h, vars={**h.vars, **variables}) for h in play.hosts)) for play in playbook.plays)
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


def gather(hosts: list[HostConn], playbook: Playbook | None, sessions: dict[str, Session] | None = None,
           forks: int = 20, *, session_factory: SessionFactory | None = None) -> HealthReport:
    """The fleet's health. `sessions`, when given, is a cache the caller keeps (and closes):
    connections stay open across calls (for --watch). Hosts of the playbook are added to
    `hosts` (a playbook's host carries the play's variables)."""
    t0 = time.monotonic()
    specs: dict[str, tuple[ContainerSpec, ...]] = {}
    conns = {h.name: h for h in hosts}
    if playbook is not None:
        play_hosts, specs = desired(playbook)
        for conn in play_hosts:
            conns[conn.name] = conn
        order = [h.name for h in hosts] + [h.name for h in play_hosts if h.name not in
                                           {x.name for x in hosts}]
    else:
        order = [h.name for h in hosts]
    targets = [conns[n] for n in order]
    limits = thresholds_for(targets)
    cache = sessions if sessions is not None else {}
    make = session_factory or Session
    for conn in targets:
        if conn.name not in cache:
            cache[conn.name] = make(conn)

    def one(conn: HostConn) -> HostHealth:
        wanted = specs.get(conn.name, ()) if playbook is not None else None
        return check_host(cache[conn.name], conn, wanted, limits[conn.name])

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets) or 1))) as pool:
            results = list(pool.map(one, targets))
    finally:
        if sessions is None:
            for s in cache.values():
                s.close()
    for conn, result in zip(targets, results, strict=True):
        if not result.reachable and sessions is not None:
            cache.pop(conn.name).close()  # reconnect next round
    return HealthReport(
        hosts=results, generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        playbook=playbook.path if playbook else None, took_s=time.monotonic() - t0,
        thresholds={n: limits[n].as_dict() for n in order})
