"""A host's health facts: ONE remote shell script that prints sections, and a pure parser.

As in pyinfra, a fact is a command plus a pure `parse(output)`; the parser is tested
with tables of output -> facts, no SSH. Every section starts with a marker line
`--deployer-health:NAME--`; a section that failed prints `!error: TEXT` instead of data.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from deployer.docker.facts import IMAGE_FORMAT, facts_lines, parse_facts
from deployer.docker.labels import LABEL_MANAGED
from deployer.model import ImageInfo, Observed

MARK = "--deployer-health:{}--"
RESTART_WINDOW_MIN = 10  # restarts are counted over this many minutes (docker events)
DOCKER_TIMEOUT = 10  # seconds for each docker call on the host

# Every container (deployer's or not), for names and published ports.
PS_FORMAT = ('{"id":{{json .ID}},"name":{{json .Names}},"image":{{json .Image}},'
             '"state":{{json .State}},"ports":{{json .Ports}},'
             '"managed":{{json (.Label "deployer.managed")}}}')
ENGINE_FORMAT = "{{.ServerVersion}}|{{.DockerRootDir}}"


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

    @property
    def mem_available_pct(self) -> float | None:
        if not self.mem_total_kb or self.mem_available_kb is None:
            return None
        return 100.0 * self.mem_available_kb / self.mem_total_kb

    def live(self, name: str) -> Observed | None:
        return next((c for c in self.containers if c.is_live and c.logical_name == name), None)

    def other(self, name: str) -> OtherContainer | None:
        return next((c for c in self.others if c.name == name), None)


def _section(name: str, body: str) -> str:
    return f"echo {shlex.quote(MARK.format(name))}\n{body}\n"


def script() -> str:
    """The one remote command: prints every section, never fails as a whole."""
    q = shlex.quote
    d = "$T docker"
    engine = (f'out=$({d} info --format {q(ENGINE_FORMAT)} 2>&1) && echo "$out" '
              '|| { echo "!error: $(echo "$out" | tail -n 1)"; }')
    events = (f"{d} events --since {RESTART_WINDOW_MIN}m --until 0s "
              f"--filter label={LABEL_MANAGED}=true --filter event=die "
              "--format '{{.Actor.ID}}' 2>/dev/null || echo '!error: docker events failed'")
    managed = "\n".join(facts_lines(docker=d, on_error="echo '!error: docker ps failed'"))
    images = (f"ids=$({d} ps -aq --filter label={LABEL_MANAGED}=true 2>/dev/null)\n"
              f'[ -z "$ids" ] || {d} inspect --format \'{{{{.Image}}}}\' $ids 2>/dev/null | sort -u | '
              f"xargs -r {d} image inspect --format {q(IMAGE_FORMAT)} 2>/dev/null")
    parts = [
        "T=; command -v timeout >/dev/null 2>&1 && T='timeout " + str(DOCKER_TIMEOUT) + "'",
        _section("clock", "date +%s.%N"),
        _section("engine", engine),
        _section("df", 'root=$(echo "$out" | sed -n "s/^[^|]*|//p" | head -n 1)\n'
                       'df -Pk / ${root:+"$root"} 2>&1'),
        _section("meminfo", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"),
        _section("loadavg", "cat /proc/loadavg"),
        _section("nproc", "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo"),
        _section("uptime", "cat /proc/uptime"),
        _section("listen", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {print $2}'"),
        _section("events", events),
        _section("ps", f"{d} ps -a --no-trunc --format {q(PS_FORMAT)} 2>/dev/null "
                       "|| echo '!error: docker ps failed'"),
        _section("managed", managed),
        _section("images", images),
        "exit 0",
    ]
    return "\n".join(parts) + "\n"


def _sections(output: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        m = re.fullmatch(r"--deployer-health:([a-z]+)--", line.strip())
        if m:
            current = out.setdefault(m.group(1), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return out


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse(output: str) -> HostFacts:
    """Read the script's output; sections missing or unreadable are left empty, with an error."""
    facts = HostFacts()
    sections = _sections(output)
    for name, lines in sections.items():
        if lines and lines[0].startswith("!error:"):
            facts.errors[name] = lines[0][len("!error:"):].strip()
    readers = {"clock": _clock, "engine": _engine, "df": _df, "meminfo": _meminfo,
               "loadavg": _loadavg, "nproc": _nproc, "uptime": _uptime, "listen": _listen,
               "events": _events, "ps": _ps, "managed": _managed, "images": _images}
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
        f.disks.append(DiskUse(path=path, mount=row[5], size_kb=int(row[1]), used_kb=int(row[2]),
                               avail_kb=int(row[3]), used_pct=int(row[4].rstrip("%"))))


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
            f.others.append(OtherContainer(
                id=d.get("id") or "", name=d.get("name") or "", image=d.get("image") or "",
                state=d.get("state") or "", ports=d.get("ports") or "",
                managed=d.get("managed") == "true"))


def _managed(f: HostFacts, lines: list[str]) -> None:
    f.containers = parse_facts("\n".join(lines)).containers


def _images(f: HostFacts, lines: list[str]) -> None:
    for line in lines:
        if line.startswith("{"):
            d = json.loads(line)
            f.images[d["id"]] = ImageInfo(id=d["id"], digests=tuple(d.get("digests") or ()))
