"""The health report: plain data from health/ to report/. Schema "deployer.health/v1" in JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deployer.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

SCHEMA = "deployer.health/v1"

Verdict = Literal["healthy", "degraded", "unhealthy", "unreachable"]
VERDICTS: tuple[Verdict, ...] = ("healthy", "degraded", "unhealthy", "unreachable")
SEVERITY: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2, "unreachable": 3}


@dataclass(frozen=True)
class Finding:
    """One reason a host is not healthy, in words, with how bad it is."""

    level: Literal["degraded", "unhealthy", "unreachable"]
    text: str  # a sentence: "disk / 93% used"
    subject: str = ""  # "" for the host itself, else a container name


@dataclass(frozen=True)
class ProbeResult:
    kind: str  # "http" | "tcp"
    target: str  # "127.0.0.1:8080/healthz" as the host reaches it
    ok: bool
    detail: str  # "HTTP 200 on /healthz in 3 ms", "TCP 127.0.0.1:5432: refused"
    status: int | None = None  # HTTP status
    latency_ms: float | None = None


@dataclass
class ContainerHealth:
    name: str  # the logical name (deployer.name label, else the container's name)
    id: str = ""
    managed: bool = True  # started by deployer (its labels)
    declared: bool = False  # the playbook declares it for this host
    state: str = "missing"  # docker's state, or "missing"
    health: str | None = None  # docker's health status, None when the image has no check
    restarts: int = 0
    recent_restarts: int | None = None  # in the last `window` minutes, from docker events
    started_at: str = ""
    image: str = ""
    image_id: str = ""
    digest: str | None = None
    ports: list[str] = field(default_factory=list)  # "0.0.0.0:8080->80/tcp"
    wanted_image: str | None = None  # what the playbook declares
    probe: ProbeResult | None = None


@dataclass
class HostHealth:
    name: str
    address: str
    verdict: Verdict = "healthy"
    findings: list[Finding] = field(default_factory=list)
    reachable: bool = True
    ssh_latency_ms: float | None = None
    engine_version: str | None = None
    engine: str = ""  # how the facts were read: "api", "cli (why)"; "" when not reached
    disks: list[dict[str, Any]] = field(default_factory=list)  # path, mount, used_pct, ...
    mem_available_pct: float | None = None
    mem_total_kb: int | None = None
    load: list[float] | None = None  # 1, 5, 15 minutes
    cpus: int | None = None
    uptime_s: float | None = None
    clock_offset_s: float | None = None  # host clock minus the controller's
    containers: list[ContainerHealth] = field(default_factory=list)
    took_s: float = 0.0  # wall time of this host's checks
    # proxy mode: {"running", "image", "routes": [{"name", "host", "path", "port",
    # "container_id", "state", "health"}]}; None on a host without a proxy
    proxy: dict[str, Any] | None = None

    @property
    def reasons(self) -> list[str]:
        return [f.text for f in self.findings]


@dataclass
class HealthReport:
    hosts: list[HostHealth]
    generated_at: str  # ISO 8601, UTC
    playbook: str | None = None
    took_s: float = 0.0
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # host -> values

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for h in self.hosts if h.verdict == v) for v in VERDICTS}

    @property
    def exit_code(self) -> int:
        """0 all healthy; 3 any degraded or unhealthy; 4 any unreachable and none unhealthy."""
        c = self.counts()
        if c["unhealthy"]:
            return EXIT_FAILED
        if c["unreachable"]:
            return EXIT_UNREACHABLE
        return EXIT_FAILED if c["degraded"] else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema "deployer.health/v1", see docs/health.md)."""
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at,
            "playbook": self.playbook,
            "took_s": round(self.took_s, 3),
            "summary": {**self.counts(), "total": len(self.hosts), "exit_code": self.exit_code},
            "hosts": [_host_dict(h, self.thresholds.get(h.name, {})) for h in self.hosts],
        }


def _host_dict(h: HostHealth, thresholds: dict[str, float]) -> dict[str, Any]:
    d = asdict(h)
    d.pop("findings")
    d["reasons"] = h.reasons
    d["findings"] = [asdict(f) for f in h.findings]
    d["thresholds"] = thresholds
    for key in ("ssh_latency_ms", "mem_available_pct", "clock_offset_s", "took_s", "uptime_s"):
        if isinstance(d[key], float):
            d[key] = round(d[key], 3)
    return d
