"""The health report as Prometheus metrics: the text exposition format, one family per fact.

Every family is a gauge named `deployer_...` with its unit in the name (`_seconds`,
`_bytes`, `_ratio` for 0..1). Verdicts and states are state sets: one series per
possible value, 1 for the current one and 0 for the others, so a query never needs a
regex on a value (`deployer_host_verdict{verdict="unhealthy"} == 1`). Labels carry only
names, images, versions, states and paths; never a reason text (which may quote a
host's error output), an address or anything read from a secret. prometheus_client
escapes label values. The families and their labels are listed in docs/health.md.

`ReportCollector` yields the families of whichever report its getter returns at scrape
time: `render` uses it once, the `/metrics` server of `health --watch --serve` each
scrape (deployer.report.prometheus_http).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from deployer.health.model import SEVERITY, VERDICTS, ContainerHealth, HealthReport, HostHealth

# Docker's container states, and "missing" (declared by the playbook, not found).
CONTAINER_STATES = (
    "running",
    "restarting",
    "paused",
    "created",
    "exited",
    "removing",
    "dead",
    "missing",
)
DOCKER_HEALTH = ("starting", "healthy", "unhealthy")
LOADS = (("load1", 0, "1"), ("load5", 1, "5"), ("load15", 2, "15"))

_H = ("host",)
_C = ("host", "container")
_DISK = ("host", "path", "mount")

# name -> (HELP, label names). The order is the exposition's.
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "deployer_health_generated_timestamp_seconds": (
        "When this health report was made (Unix time).",
        (),
    ),
    "deployer_health_duration_seconds": ("How long checking every host took.", ()),
    "deployer_health_hosts": ("Hosts with each verdict.", ("verdict",)),
    "deployer_host_verdict": (
        "The host's verdict as a state set: 1 for its verdict "
        "(healthy, degraded, unhealthy, unreachable), 0 for the others.",
        ("host", "verdict"),
    ),
    "deployer_host_severity": (
        "The host's verdict as a number: 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable.",
        _H,
    ),
    "deployer_host_reachable": ("1 if deployer could log in to the host over SSH.", _H),
    "deployer_host_ssh_latency_seconds": (
        "One SSH round trip to the host (opening the facts command's channel).",
        _H,
    ),
    "deployer_host_check_duration_seconds": ("How long this host's checks took.", _H),
    "deployer_host_engine_info": (
        "The host's Docker engine version (value 1).",
        ("host", "version"),
    ),
    "deployer_host_disk_used_ratio": (
        "Share of the file system used (df), for / and Docker's data root.",
        _DISK,
    ),
    "deployer_host_disk_size_bytes": ("Size of the file system.", _DISK),
    "deployer_host_disk_available_bytes": ("Space available on the file system.", _DISK),
    "deployer_host_memory_available_ratio": (
        "Share of memory available (MemAvailable / MemTotal).",
        _H,
    ),
    "deployer_host_memory_total_bytes": ("Memory of the host (MemTotal).", _H),
    **{
        f"deployer_host_{name}": (f"Load average over {minutes} minute(s).", _H)
        for name, _, minutes in LOADS
    },
    "deployer_host_cpus": ("CPUs of the host (nproc).", _H),
    "deployer_host_uptime_seconds": ("Time since the host booted.", _H),
    "deployer_host_clock_offset_seconds": (
        "The host's clock minus the controller's (0 within the command's round trip).",
        _H,
    ),
    "deployer_container_state": (
        "The container's state as a state set: 1 for Docker's state (running, restarting, "
        "paused, created, exited, removing, dead) or missing (declared, not found).",
        ("host", "container", "state"),
    ),
    "deployer_container_health": (
        "Docker's health check status as a state set (starting, healthy, unhealthy); "
        "only for containers whose image has a health check.",
        ("host", "container", "health"),
    ),
    "deployer_container_info": (
        "The container's running image and version (value 1): the image's tag, digest, "
        "the image the playbook wants, whether deployer started it and the playbook declares it.",
        ("host", "container", "image", "version", "digest", "wanted_image", "managed", "declared"),
    ),
    "deployer_container_image_drift": (
        "1 if the container runs another image than the playbook declares (declared ones only).",
        _C,
    ),
    "deployer_container_started_timestamp_seconds": (
        "When the running container last started (Unix time): its deploy, or its last restart.",
        _C,
    ),
    "deployer_container_restarts": (
        "Docker's restart count of the container since it was created (by its deploy).",
        _C,
    ),
    "deployer_container_recent_restarts": (
        "Restarts of the container in the last 10 minutes.",
        _C,
    ),
    "deployer_container_probe_success": (
        "1 if the playbook's health probe (http or tcp, from the host's side) passed.",
        ("host", "container", "kind"),
    ),
    "deployer_container_probe_latency_seconds": (
        "Time the playbook's health probe took.",
        ("host", "container", "kind"),
    ),
    "deployer_container_probe_http_status": ("HTTP status the health probe got.", _C),
    "deployer_proxy_running": ("1 if the host's reverse proxy runs (proxy mode hosts).", _H),
    "deployer_proxy_info": ("The image of the host's reverse proxy (value 1).", ("host", "image")),
    "deployer_proxy_route_up": (
        "1 if the proxy route's container runs and is not unhealthy.",
        ("host", "route", "vhost", "path"),
    ),
}


class _Families:
    """The families in FAMILIES order; a sample without a value (a figure the host did not
    give) is left out, and so is a repeated label set (the first one stays)."""

    def __init__(self) -> None:
        self.metrics = {
            name: GaugeMetricFamily(name, help_text, labels=labels)
            for name, (help_text, labels) in FAMILIES.items()
        }
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, name: str, value: float | bool | None, *labels: str) -> None:
        if value is None or (name, labels) in self._seen:
            return
        self._seen.add((name, labels))
        self.metrics[name].add_metric(list(labels), float(value))

    def state_set(self, name: str, current: str, states: tuple[str, ...], *labels: str) -> None:
        for state in (*states, *(() if current in states else (current,))):
            self.add(name, state == current, *labels, state)


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def epoch(stamp: str) -> float | None:
    """ISO 8601 (Docker's nanoseconds and `Z` included; no zone is UTC) as Unix time; None
    for Docker's zero time ("0001-01-01T00:00:00Z") or anything unreadable."""
    m = _STAMP.fullmatch(stamp.strip())
    if m is None or stamp.startswith("0001-"):
        return None
    whole, frac, zone = m.groups()
    try:
        when = datetime.fromisoformat(whole + ("+00:00" if zone in (None, "Z") else zone))
    except ValueError:
        return None
    return when.timestamp() + (float("0." + frac) if frac else 0.0)


def version(image: str) -> str:
    """An image reference's version: its tag ("1.4.2" of "reg:5000/app:1.4.2@sha256:..."),
    else its digest, else "latest" (Docker's default tag); "" for no image."""
    if not image:
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return digest or "latest"


def _report(f: _Families, report: HealthReport) -> None:
    f.add("deployer_health_generated_timestamp_seconds", epoch(report.generated_at))
    f.add("deployer_health_duration_seconds", report.took_s)
    for verdict, count in report.counts().items():
        f.add("deployer_health_hosts", count, verdict)


def _host(f: _Families, h: HostHealth) -> None:
    n = h.name
    f.state_set("deployer_host_verdict", h.verdict, VERDICTS, n)
    f.add("deployer_host_severity", SEVERITY[h.verdict], n)
    f.add("deployer_host_reachable", h.reachable, n)
    f.add("deployer_host_ssh_latency_seconds", _ms(h.ssh_latency_ms), n)
    f.add("deployer_host_check_duration_seconds", h.took_s, n)
    if h.engine_version is not None:
        f.add("deployer_host_engine_info", 1, n, h.engine_version)
    for d in h.disks:
        labels = (n, str(d.get("path", "")), str(d.get("mount", "")))
        used = d.get("used_pct")
        f.add("deployer_host_disk_used_ratio", None if used is None else used / 100, *labels)
        f.add("deployer_host_disk_size_bytes", _kib(d.get("size_kb")), *labels)
        f.add("deployer_host_disk_available_bytes", _kib(d.get("avail_kb")), *labels)
    mem = h.mem_available_pct
    f.add("deployer_host_memory_available_ratio", None if mem is None else mem / 100, n)
    f.add("deployer_host_memory_total_bytes", _kib(h.mem_total_kb), n)
    for name, index, _ in LOADS:
        f.add(f"deployer_host_{name}", h.load[index] if h.load else None, n)
    f.add("deployer_host_cpus", h.cpus, n)
    f.add("deployer_host_uptime_seconds", h.uptime_s, n)
    f.add("deployer_host_clock_offset_seconds", h.clock_offset_s, n)
    for c in h.containers:
        _container(f, n, c)
    if h.proxy is not None:
        _proxy(f, n, h.proxy)


def _container(f: _Families, host: str, c: ContainerHealth) -> None:
    labels = (host, c.name)
    f.state_set("deployer_container_state", c.state, CONTAINER_STATES, *labels)
    if c.health:
        f.state_set("deployer_container_health", c.health, DOCKER_HEALTH, *labels)
    if c.state != "missing":
        f.add(
            "deployer_container_info",
            1,
            *labels,
            c.image,
            version(c.image),
            c.digest or "",
            c.wanted_image or "",
            _bool(c.managed),
            _bool(c.declared),
        )
        f.add("deployer_container_started_timestamp_seconds", epoch(c.started_at), *labels)
        f.add("deployer_container_restarts", c.restarts, *labels)
        f.add("deployer_container_recent_restarts", c.recent_restarts, *labels)
        if c.wanted_image is not None:
            f.add("deployer_container_image_drift", c.image != c.wanted_image, *labels)
    if c.probe is not None:
        p = c.probe
        f.add("deployer_container_probe_success", p.ok, *labels, p.kind)
        f.add("deployer_container_probe_latency_seconds", _ms(p.latency_ms), *labels, p.kind)
        f.add("deployer_container_probe_http_status", p.status, *labels)


def _proxy(f: _Families, host: str, proxy: dict[str, Any]) -> None:
    f.add("deployer_proxy_running", bool(proxy.get("running")), host)
    if proxy.get("image"):
        f.add("deployer_proxy_info", 1, host, str(proxy["image"]))
    routes = proxy.get("routes")
    for r in routes if isinstance(routes, list) else ():
        up = r.get("state") == "running" and r.get("health") != "unhealthy"
        vhost = r.get("host") or ""
        f.add("deployer_proxy_route_up", up, host, str(r.get("name")), str(vhost), str(r["path"]))


def _ms(value: float | None) -> float | None:
    return None if value is None else value / 1000


def _kib(value: object) -> float | None:
    return float(value) * 1024 if isinstance(value, int | float) else None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def families(report: HealthReport) -> list[Metric]:
    """Every family of FAMILIES, in that order, with the report's samples."""
    f = _Families()
    _report(f, report)
    for h in report.hosts:
        _host(f, h)
    return list(f.metrics.values())


class ReportCollector(Collector):
    """The families of the report `latest()` returns when collected; none before the first."""

    def __init__(self, latest: Callable[[], HealthReport | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        report = self._latest()
        if report is not None:
            yield from families(report)


def render(report: HealthReport) -> str:
    """The text exposition format (0.0.4), as node_exporter's textfile collector reads it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(lambda: report))
    return generate_latest(registry).decode()
