"""The health report as a table for a terminal: one row per host, its reasons underneath."""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from deployer.health.model import HealthReport, HostHealth
from deployer.report.safe import visible

STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red", "unreachable": "magenta"}
LEVEL_STYLE = {"degraded": "yellow", "unhealthy": "red", "unreachable": "magenta"}


def _disk(h: HostHealth) -> str:
    seen: dict[str, int] = {}
    for d in h.disks:
        seen.setdefault(str(d["mount"]), int(d["used_pct"]))
    return " ".join(f"{p}%" for p in seen.values()) if seen else "-"


def _mem(h: HostHealth) -> str:
    return "-" if h.mem_available_pct is None else f"{h.mem_available_pct:.0f}% free"


def _load(h: HostHealth) -> str:
    if not h.load:
        return "-"
    return f"{h.load[0]:.2f}/{h.cpus}" if h.cpus else f"{h.load[0]:.2f}"


def _containers(h: HostHealth) -> str:
    if not h.reachable:
        return "-"
    up = sum(1 for c in h.containers if c.state == "running")
    return f"{up}/{len(h.containers)} up"


def _latency(h: HostHealth) -> str:
    return "-" if h.ssh_latency_ms is None else f"{h.ssh_latency_ms:.0f} ms"


def _uptime(h: HostHealth) -> str:
    if h.uptime_s is None:
        return "-"
    s = int(h.uptime_s)
    return (
        f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60:02d}m"
    )


def table(report: HealthReport) -> RenderableType:
    t = Table(show_edge=False, header_style="bold", pad_edge=False)
    for col in (
        "HOST",
        "VERDICT",
        "SSH",
        "DOCKER",
        "DISK",
        "MEMORY",
        "LOAD",
        "UPTIME",
        "CONTAINERS",
    ):
        t.add_column(col, no_wrap=True)
    for h in report.hosts:
        cells = (
            _latency(h),
            h.engine_version or "-",
            _disk(h),
            _mem(h),
            _load(h),
            _uptime(h),
            _containers(h),
        )
        t.add_row(
            Text(visible(h.name)),
            Text(h.verdict.upper(), style=STYLE[h.verdict]),
            *(Text(visible(c)) for c in cells),
        )
    reasons = Text()
    for h in report.hosts:
        for f in h.findings:
            reasons.append(f"  {visible(h.name)}: ", style="bold")
            reasons.append(f"{visible(f.text)}\n", style=LEVEL_STYLE[f.level])
    proxies = Text()
    for h in report.hosts:
        if h.proxy is None:
            continue
        state = "running" if h.proxy["running"] else "NOT RUNNING"
        proxies.append(
            f"  {visible(h.name)}: {visible(h.proxy['image'] or '?')} {state}", style="bold"
        )
        for r in h.proxy["routes"]:
            match = (r["host"] or "*") + r["path"]
            where = r["container"] or r["container_id"]
            proxies.append(
                visible(f"; {match} -> {r['name']} ({where}, {r['state']})"),
                style="" if r["state"] == "running" else "red",
            )
        proxies.append("\n")
    c = report.counts()
    summary = Text(
        ", ".join(f"{n} {v}" for v, n in c.items() if n) + f"  ({report.took_s:.1f}s, "
        f"{report.generated_at})",
        style="dim",
    )
    parts: list[RenderableType] = [t]
    if proxies.plain:
        proxies.rstrip()
        parts.append(Text("\nproxy (where each route points):", style="bold"))
        parts.append(proxies)
    if reasons.plain:
        parts.append(Text("\nreasons:", style="bold"))
        parts.append(reasons)
    parts.append(summary)
    return Group(*parts)


def render(report: HealthReport, *, color: bool = False, width: int = 120) -> str:
    """The table as text (ANSI colours only when asked)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        width=width,
        color_system="standard" if color else None,
    )
    console.print(table(report))
    return buf.getvalue()
