"""Pure rules: a host's facts (+ the playbook's wishes and probe results) -> verdict + reasons.

No I/O: unit-tested with tables of facts. Levels, worst first: unreachable (no SSH),
unhealthy (something does not serve), degraded (it serves, but watch it), healthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from deployer.health.facts import PROXY_NAME, RESTART_WINDOW_MIN, HostFacts
from deployer.health.model import (
    SEVERITY,
    ContainerHealth,
    Finding,
    HostHealth,
    ProbeResult,
    Verdict,
)
from deployer.health.thresholds import Thresholds
from deployer.model import ContainerSpec, Observed, same_image


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    worst: Verdict = "healthy"
    for f in findings:
        if SEVERITY[f.level] > SEVERITY[worst]:
            worst = f.level
    return worst


def unreachable(name: str, address: str, error: str) -> HostHealth:
    return HostHealth(
        name=name,
        address=address,
        verdict="unreachable",
        reachable=False,
        findings=[Finding("unreachable", error)],
    )


def judge(
    name: str,
    address: str,
    facts: HostFacts,
    *,
    specs: Sequence[ContainerSpec] | None,
    probes: Mapping[str, ProbeResult],
    thresholds: Thresholds,
    clock_offset: float | None = None,
    ssh_latency: float | None = None,
    now: float | None = None,
) -> HostHealth:
    """The host's health: its figures, its containers, its findings and one verdict."""
    host = HostHealth(
        name=name,
        address=address,
        ssh_latency_ms=None if ssh_latency is None else ssh_latency * 1000,
        engine_version=facts.engine_version,
        mem_available_pct=facts.mem_available_pct,
        mem_total_kb=facts.mem_total_kb,
        load=list(facts.load) if facts.load else None,
        cpus=facts.cpus,
        uptime_s=facts.uptime_s,
        clock_offset_s=clock_offset,
        disks=[
            {
                "path": d.path,
                "mount": d.mount,
                "used_pct": d.used_pct,
                "size_kb": d.size_kb,
                "avail_kb": d.avail_kb,
            }
            for d in facts.disks
        ],
    )
    host.containers = containers(facts, specs, probes, now)
    findings = host_findings(facts, thresholds, clock_offset)
    if facts.engine_version is not None:
        for c in host.containers:
            findings += container_findings(c, thresholds, now)
        findings += port_findings(facts, specs or ())
        host.proxy, found = proxy_view(facts)
        findings += found
    host.findings = findings
    host.verdict = verdict_of(findings)
    return host


def host_findings(facts: HostFacts, t: Thresholds, clock_offset: float | None) -> list[Finding]:
    out: list[Finding] = []
    if facts.engine_version is None:
        out.append(Finding("unhealthy", f"Docker engine not answering: {facts.engine_error}"))
    seen: set[str] = set()
    for disk in facts.disks:
        if disk.mount in seen:
            continue
        seen.add(disk.mount)
        where = "/" if disk.path == "/" else f"{disk.path} (Docker data)"
        if disk.used_pct >= t.disk_crit:
            out.append(
                Finding("unhealthy", f"disk {where} {disk.used_pct}% used (limit {t.disk_crit:g}%)")
            )
        elif disk.used_pct >= t.disk_warn:
            out.append(
                Finding(
                    "degraded", f"disk {where} {disk.used_pct}% used (warning at {t.disk_warn:g}%)"
                )
            )
    mem = facts.mem_available_pct
    if mem is not None and mem < t.mem_warn:
        out.append(
            Finding("degraded", f"memory {mem:.0f}% available (warning below {t.mem_warn:g}%)")
        )
    if facts.load and facts.cpus and facts.load[0] / facts.cpus > t.load_warn:
        out.append(
            Finding(
                "degraded",
                f"load {facts.load[0]:.2f} on {facts.cpus} CPUs "
                f"(warning above {t.load_warn:g} per CPU)",
            )
        )
    if clock_offset is not None and abs(clock_offset) > t.clock_warn:
        side = "ahead of" if clock_offset > 0 else "behind"
        out.append(Finding("degraded", f"clock {abs(clock_offset):.1f} s {side} the controller"))
    return out


def _ports(obs: Observed) -> list[str]:
    out = []
    for cport, bindings in sorted((obs.ports or {}).items()):
        for b in bindings or []:
            if isinstance(b, dict) and b.get("HostPort"):
                out.append(f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}->{cport}")
    return out


def _epoch(stamp: str) -> float | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    try:
        main, _, frac = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (frac[:6] or "0"))
    except ValueError:
        return None


def _recent_restarts(obs: Observed, facts: HostFacts, now: float | None) -> int | None:
    if facts.events_ok:
        return min(obs.restarts, facts.recent_dies.get(obs.id, 0))
    started = _epoch(obs.started_at)
    if now is None or started is None:
        return None
    return obs.restarts if now - started < RESTART_WINDOW_MIN * 60 else 0


def containers(
    facts: HostFacts,
    specs: Sequence[ContainerSpec] | None,
    probes: Mapping[str, ProbeResult],
    now: float | None,
) -> list[ContainerHealth]:
    """Deployer's live containers, then the declared ones it does not run (unmanaged or missing)."""
    wanted = {s.name: s for s in specs or ()}
    out: list[ContainerHealth] = []
    for obs in facts.containers:
        if not obs.is_live:
            continue  # retained older versions, kept for rollback
        spec = wanted.get(obs.logical_name)
        image = facts.images.get(obs.image_id)
        out.append(
            ContainerHealth(
                name=obs.logical_name,
                id=obs.id,
                managed=True,
                declared=spec is not None,
                state=obs.status,
                health=obs.health,
                restarts=obs.restarts,
                recent_restarts=_recent_restarts(obs, facts, now),
                started_at=obs.started_at,
                image=obs.image,
                image_id=obs.image_id,
                digest=image.digest if image else None,
                ports=_ports(obs),
                wanted_image=spec.image if spec else None,
                probe=probes.get(obs.logical_name),
            )
        )
    have = {c.name for c in out}
    for name, spec in wanted.items():
        if name in have:
            continue
        other = facts.other(name)
        if other is None:
            out.append(ContainerHealth(name=name, declared=True, wanted_image=spec.image))
            continue
        out.append(
            ContainerHealth(
                name=name,
                id=other.id,
                managed=False,
                declared=True,
                state=other.state,
                image=other.image,
                ports=[p.strip() for p in other.ports.split(",") if p.strip()],
                wanted_image=spec.image,
                probe=probes.get(name),
            )
        )
    return out


def _just_started(c: ContainerHealth, now: float | None) -> bool:
    started = _epoch(c.started_at)
    return now is not None and started is not None and now - started < STARTING_GRACE_S


def _version_text(name: str, running: str, wanted: str) -> str:
    repo_r, _, tag_r = running.rpartition(":")
    repo_w, _, tag_w = wanted.rpartition(":")
    if repo_r and repo_r == repo_w and "/" not in tag_w:
        return f"{name} runs {running.rsplit('/', 1)[-1]}, playbook wants {tag_w}"
    return f"{name} runs {running}, playbook wants {wanted}"


# A container just started (a deploy's closing summary) gets this long before a Docker
# health check still "starting" counts against it, as Docker's own start period does.
STARTING_GRACE_S = 60.0


def container_findings(
    c: ContainerHealth, t: Thresholds, now: float | None = None
) -> list[Finding]:
    n = c.name
    if c.state == "missing":
        return [Finding("unhealthy", f"{n}: missing (the playbook declares it)", n)]
    out: list[Finding] = []
    if not c.managed:
        out.append(
            Finding(
                "degraded",
                f"{n}: not started by deployer (a container of that name runs {c.image})",
                n,
            )
        )
    if c.wanted_image is not None and not same_image(c.image, c.wanted_image):
        out.append(Finding("degraded", _version_text(n, c.image, c.wanted_image), n))
    if c.state != "running":
        out.append(Finding("unhealthy", f"{n}: {c.state}", n))
    if c.recent_restarts is not None and c.recent_restarts > t.restarts_warn:
        out.append(
            Finding("degraded", f"{n}: {c.recent_restarts} restarts in {RESTART_WINDOW_MIN} min", n)
        )
    if c.state == "running" and c.health == "unhealthy":
        out.append(Finding("unhealthy", f"{n}: Docker health check unhealthy", n))
    elif c.state == "running" and c.health == "starting" and not _just_started(c, now):
        out.append(Finding("degraded", f"{n}: Docker health check still starting", n))
    if c.probe is not None and not c.probe.ok:
        out.append(Finding("unhealthy", f"{n}: {c.probe.detail}", n))
    return out


def port_findings(facts: HostFacts, specs: Sequence[ContainerSpec]) -> list[Finding]:
    """A port the playbook declares, published or listened on by something else."""
    out: list[Finding] = []
    for spec in specs:
        mine = facts.other(spec.name)
        mine_ports = mine.host_ports if mine is not None else set()
        for port in spec.ports:
            if port.host_port is None or port.host_port in mine_ports:
                continue
            holder = next(
                (
                    o
                    for o in facts.others
                    if o.name != spec.name
                    and o.state == "running"
                    and port.host_port in o.host_ports
                ),
                None,
            )
            if holder is not None:
                out.append(
                    Finding(
                        "unhealthy",
                        f"{spec.name}: port {port.host_port} is taken by "
                        f"container {holder.name} ({holder.image})",
                        spec.name,
                    )
                )
            elif port.protocol == "tcp" and port.host_port in facts.listening:
                out.append(
                    Finding(
                        "unhealthy",
                        f"{spec.name}: port {port.host_port} is taken by "
                        "another process on the host",
                        spec.name,
                    )
                )
    return out


def proxy_view(facts: HostFacts) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The proxy and where each route points (proxy mode); a route to a container that is
    missing, stopped or unhealthy, or routes without a running proxy, make the host
    unhealthy. Hosts without a proxy or routes get nothing."""
    if facts.proxy is None and not facts.routes:
        return None, []
    running, image = facts.proxy or (False, "")
    found: list[Finding] = []
    if facts.routes and not running:
        what = "is not running" if facts.proxy else "is missing"
        found.append(Finding("unhealthy", f"proxy {PROXY_NAME} {what}"))
    routes = []
    for r in facts.routes:
        target = next((c for c in facts.containers if c.id.startswith(r.target)), None)
        state = "missing" if target is None else target.status
        health = target.health if target else None
        routes.append(
            {
                "name": r.name,
                "host": r.host,
                "path": r.path,
                "port": r.port,
                "container_id": r.target,
                "container": target.name if target else None,
                "state": state,
                "health": health,
            }
        )
        where = f"route {r.name} -> {r.target}"
        if target is None:
            found.append(Finding("unhealthy", f"{where}: no such container", r.name))
        elif not target.running:
            found.append(Finding("unhealthy", f"{where}: container {state}", r.name))
        elif health == "unhealthy":
            found.append(Finding("unhealthy", f"{where}: container unhealthy", r.name))
    return {"running": running, "image": image, "routes": routes}, found
