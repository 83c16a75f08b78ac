"""A host's health facts: ONE remote shell script that prints sections, and a pure parser.

As in pyinfra, a fact is a command plus a pure `parse(output)`; the parser is tested
with tables of output -> facts, no SSH. Every section starts with a marker line
`--deployer-health:NAME--`; a section that failed prints `!error: TEXT` instead of data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from deployer.docker.facts import parse_facts
from deployer.docker.health_script import (  # noqa: F401 - re-exported for callers
    DOCKER_TIMEOUT,
    MARK,
    RESTART_WINDOW_MIN,
    script,
    split_sections,
)
from deployer.docker.proxy import (  # noqa: F401 - PROXY_NAME for callers
    MARK_ROUTE,
    PROXY_NAME,
    parse_route,
)
from deployer.model import ImageInfo, Observed


@dataclass(frozen=True)
class DiskUse:
    path: str  # the path asked about ("/" or the engine's data root)
    mount: str  # where its file system is mounted
    size_kb: int
    used_kb: int
    avail_kb: int
    used_pct: int  # as df -P reports it (rounded up)


@dataclass(frozen=True)
class OtherContainer:
    """Any container on the host (deployer's or not) as `docker ps -a` shows it."""

    id: str
    name: str
    image: str
    state: str
    ports: str  # docker's text: "0.0.0.0:8080->80/tcp, :::8080->80/tcp"
    managed: bool

    @property
    def host_ports(self) -> set[int]:
        return {int(p) for p in re.findall(r":(\d+)->", self.ports)}


@dataclass(frozen=True)
class Route:
    """One app's route in the host's proxy (proxy mode), as its route file says."""

    name: str  # the container name it routes to
    host: str | None
    path: str
    target: str  # the container id prefix it dials
    port: int


@dataclass
class HostFacts:
    clock: float | None = None  # the host's epoch seconds when the script started
    engine_version: str | None = None
    engine_error: str = ""
    data_root: str | None = None
    disks: list[DiskUse] = field(default_factory=list)
    mem_total_kb: int | None = None
    mem_available_kb: int | None = None
    load: tuple[float, float, float] | None = None
    cpus: int | None = None
    uptime_s: float | None = None
    containers: list[Observed] = field(default_factory=list)  # deployer-managed ones
    images: dict[str, ImageInfo] = field(default_factory=dict)  # image id -> info
    others: list[OtherContainer] = field(default_factory=list)  # every container
    recent_dies: dict[str, int] = field(default_factory=dict)  # container id -> dies in window
    events_ok: bool = False
    listening: set[int] = field(default_factory=set)  # TCP ports listened on, host netns
    errors: dict[str, str] = field(default_factory=dict)  # section -> error text
    proxy: tuple[bool, str] | None = None  # (running, image) of the host's proxy; None: none
    routes: list[Route] = field(default_factory=list)

    @property
    def mem_available_pct(self) -> float | None:
        if not self.mem_total_kb or self.mem_available_kb is None:
            return None
        return 100.0 * self.mem_available_kb / self.mem_total_kb

    def live(self, name: str) -> Observed | None:
        return next((c for c in self.containers if c.is_live and c.logical_name == name), None)

    def other(self, name: str) -> OtherContainer | None:
        return next((c for c in self.others if c.name == name), None)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse(output: str) -> HostFacts:
    """Read the script's output; sections missing or unreadable are left empty, with an error."""
    facts = HostFacts()
    sections = split_sections(output)
    for name, lines in sections.items():
        if lines and lines[0].startswith("!error:"):
            facts.errors[name] = lines[0][len("!error:") :].strip()
    readers = {
        "clock": _clock,
        "engine": _engine,
        "df": _df,
        "meminfo": _meminfo,
        "loadavg": _loadavg,
        "nproc": _nproc,
        "uptime": _uptime,
        "listen": _listen,
        "events": _events,
        "ps": _ps,
        "managed": _managed,
        "images": _images,
        "proxy": _proxy,
        "routes": _routes,
    }
    for name, reader in readers.items():
        if name not in sections or name in facts.errors:
            continue
        try:
            reader(facts, sections[name])
        except (ValueError, KeyError, IndexError, TypeError) as err:
            facts.errors[name] = f"unreadable output ({err})"
    if "engine" in facts.errors:
        facts.engine_error = facts.errors["engine"]
    elif facts.engine_version is None:
        facts.engine_error = "no answer from the Docker engine"
    return facts


def _clock(f: HostFacts, lines: list[str]) -> None:
    if lines:
        f.clock = _num(lines[0])


def _engine(f: HostFacts, lines: list[str]) -> None:
    if lines and "|" in lines[0]:
        version, _, root = lines[0].partition("|")
        f.engine_version, f.data_root = version.strip() or None, root.strip() or None
    elif lines:
        f.errors["engine"] = lines[-1]


def _df(f: HostFacts, lines: list[str]) -> None:
    paths = ["/", *([f.data_root] if f.data_root else [])]
    rows = [ln.split() for ln in lines if not ln.startswith("Filesystem") and len(ln.split()) >= 6]
    for path, row in zip(paths, rows, strict=False):
        f.disks.append(
            DiskUse(
                path=path,
                mount=row[5],
                size_kb=int(row[1]),
                used_kb=int(row[2]),
                avail_kb=int(row[3]),
                used_pct=int(row[4].rstrip("%")),
            )
        )


def _meminfo(f: HostFacts, lines: list[str]) -> None:
    for line in lines:
        key, _, rest = line.partition(":")
        value = int(rest.split()[0])
        if key == "MemTotal":
            f.mem_total_kb = value
        elif key == "MemAvailable":
            f.mem_available_kb = value


def _loadavg(f: HostFacts, lines: list[str]) -> None:
    if lines:
        a, b, c = (float(x) for x in lines[0].split()[:3])
        f.load = (a, b, c)


def _nproc(f: HostFacts, lines: list[str]) -> None:
    if lines:
        f.cpus = int(lines[0])


def _uptime(f: HostFacts, lines: list[str]) -> None:
    if lines:
        f.uptime_s = float(lines[0].split()[0])


def _listen(f: HostFacts, lines: list[str]) -> None:
    for line in lines:
        if ":" in line:
            f.listening.add(int(line.rsplit(":", 1)[1], 16))


def _events(f: HostFacts, lines: list[str]) -> None:
    f.events_ok = True
    for line in lines:
        f.recent_dies[line.strip()] = f.recent_dies.get(line.strip(), 0) + 1


def _ps(f: HostFacts, lines: list[str]) -> None:
    for line in lines:
        if line.startswith("{"):
            d = json.loads(line)
            f.others.append(
                OtherContainer(
                    id=d.get("id") or "",
                    name=d.get("name") or "",
                    image=d.get("image") or "",
                    state=d.get("state") or "",
                    ports=d.get("ports") or "",
                    managed=d.get("managed") == "true",
                )
            )


def _managed(f: HostFacts, lines: list[str]) -> None:
    f.containers = parse_facts("\n".join(lines)).containers


def _images(f: HostFacts, lines: list[str]) -> None:
    for line in lines:
        if line.startswith("{"):
            d = json.loads(line)
            f.images[d["id"]] = ImageInfo(id=d["id"], digests=tuple(d.get("digests") or ()))


def _proxy(f: HostFacts, lines: list[str]) -> None:
    first = lines[0].split() if lines else []
    if first and first[0] in ("true", "false"):
        f.proxy = (first[0] == "true", first[1] if len(first) > 1 else "")


def _routes(f: HostFacts, lines: list[str]) -> None:
    name = ""
    for line in lines:
        if line.startswith(MARK_ROUTE):
            name = line[len(MARK_ROUTE) :].strip().split("=", 1)[-1].removesuffix(".json")
            continue
        proxy, target = parse_route(line)
        f.routes.append(Route(name, proxy.host, proxy.path, target, proxy.port))
