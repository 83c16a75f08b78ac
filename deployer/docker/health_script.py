"""The host health script: ONE remote shell command that prints sections (health/facts.py
parses them). Every section starts with a marker line `--deployer-health:NAME--`; a
section that failed prints `!error: TEXT` instead of data. Pure: builds text only.
"""

from __future__ import annotations

import re
import shlex

from deployer.docker.facts import IMAGE_FORMAT, INSPECT_FORMAT, MARK_CONTAINERS
from deployer.docker.labels import LABEL_MANAGED
from deployer.docker.proxy import PROXY_NAME, routes_script
from deployer.docker.shell import sh

MARK = "--deployer-health:{}--"
RESTART_WINDOW_MIN = 10  # restarts are counted over this many minutes (docker events)
DOCKER_TIMEOUT = 10  # seconds for each docker call on the host
# Where an engine keeps its data unless told otherwise: the Engine API path's host script
# takes its df with /'s; another data root, once the API has told it, takes one more command.
DEFAULT_DATA_ROOT = "/var/lib/docker"

# Every container (deployer's or not), for names and published ports.
PS_FORMAT = (
    '{"id":{{json .ID}},"name":{{json .Names}},"image":{{json .Image}},'
    '"state":{{json .State}},"ports":{{json .Ports}},'
    '"managed":{{json (.Label "deployer.managed")}}}'
)
ENGINE_FORMAT = "{{.ServerVersion}}|{{.DockerRootDir}}"
# sed scripts on that output: the ids of deployer-managed containers (a JSON string cannot
# hold an unescaped `"`, so these patterns match only the fields themselves)
MANAGED_ID = 's/^{"id":"\\([0-9a-f]\\{1,64\\}\\)",.*"managed":"true"}$/\\1/p'
IMAGE_ID = 's/^.*"image_id":"\\(sha256:[0-9a-f]\\{64\\}\\)".*$/\\1/p'


PROXY_PS_NAME = f'"name":"{PROXY_NAME}"'  # the proxy's line in that output


def _section(name: str, body: str) -> str:
    return f"echo {shlex.quote(MARK.format(name))}\n{body}\n"


def _timeout_line() -> str:
    return "T=; command -v timeout >/dev/null 2>&1 && T='timeout " + str(DOCKER_TIMEOUT) + "'"


def host_sections(state_dir: str = "/var/lib/deployer") -> list[str]:
    """The sections no docker process prints: the host's own files and clock, the proxy's
    route files."""
    return [
        _section("clock", "date +%s.%N"),
        _section("meminfo", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"),
        _section("loadavg", "cat /proc/loadavg"),
        _section("nproc", "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo"),
        _section("uptime", "cat /proc/uptime"),
        _section(
            "listen", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {print $2}'"
        ),
        # where each of the proxy's routes points (proxy mode)
        _section("routes", routes_script(state_dir).strip()),
    ]


def docker_sections() -> list[str]:
    """The sections the docker CLI prints (the Engine API path reads the same from
    targets/api_health.py), `df` among them: it asks where the engine keeps its data."""
    q = shlex.quote
    d = "$T docker"
    engine = (
        f'out=$({d} info --format {q(ENGINE_FORMAT)} 2>&1) && echo "$out" '
        '|| { echo "!error: $(echo "$out" | tail -n 1)"; }'
    )
    events = (
        f"{d} events --since {RESTART_WINDOW_MIN}m --until 0s "
        f"--filter label={LABEL_MANAGED}=true --filter event=die "
        "--format '{{.Actor.ID}}' 2>/dev/null || echo '!error: docker events failed'"
    )
    # One `docker ps -a` for both views: every container (section ps) and, from its
    # "managed" field, the ids of deployer's own (section managed), whose inspect lines give
    # the ids of the images they run (section images): 3 docker calls, not 6.
    ps = (
        f"ps=$({d} ps -a --no-trunc --format {q(PS_FORMAT)} 2>/dev/null) "
        "&& printf '%s\\n' \"$ps\" || { ps=!; echo '!error: docker ps failed'; }"
    )
    managed = (
        f"echo {MARK_CONTAINERS}\n"
        "[ \"$ps\" != ! ] || echo '!error: docker ps failed'\n"
        "ids=$(printf '%s\\n' \"$ps\" | "
        f"sed -n {q(MANAGED_ID)})\n"
        f'm=; [ -z "$ids" ] || m=$({d} inspect --format {q(INSPECT_FORMAT)} $ids 2>/dev/null)\n'
        '[ -z "$m" ] || printf \'%s\\n\' "$m"'
    )
    images = (
        "printf '%s\\n' \"$m\" | "
        f"sed -n {q(IMAGE_ID)} | sort -u | "
        f"xargs -r {d} image inspect --format {q(IMAGE_FORMAT)} 2>/dev/null"
    )
    proxy = (  # inspected only where `docker ps` shows one
        f'case "$ps" in *{q(PROXY_PS_NAME)}*) '
        f"{d} inspect --format '{{{{.State.Running}}}} {{{{.Config.Image}}}}' {PROXY_NAME} "
        "2>/dev/null || echo none;; *) echo none;; esac"
    )
    return [
        _section("engine", engine),
        _section(
            "df",
            'root=$(echo "$out" | sed -n "s/^[^|]*|//p" | head -n 1)\n'
            'df -Pk / ${root:+"$root"} 2>&1',
        ),
        _section("events", events),
        _section("ps", ps),
        _section("managed", managed),
        _section("images", images),
        # the proxy (proxy mode): running, image
        _section("proxy", proxy),
    ]


def script(state_dir: str = "/var/lib/deployer") -> str:
    """The one remote command: prints every section, never fails as a whole."""
    parts = [_timeout_line(), *host_sections(state_dir), *docker_sections(), "exit 0"]
    return "\n".join(parts) + "\n"


def host_script(state_dir: str, probe: list[str]) -> str:
    """The Engine API path's one shell command: the host's own sections, then the lines
    that print where the engine listens (docker/engine_route.py `probe_lines`)."""
    address = _section("address", "\n".join(probe))  # a section of its own: not routes'
    root = shlex.quote(DEFAULT_DATA_ROOT)
    df = _section("df", f"if [ -d {root} ]; then df -Pk / {root} 2>&1; else df -Pk / 2>&1; fi")
    return "\n".join([*host_sections(state_dir), address, df, "exit 0"]) + "\n"


def docker_script() -> str:
    """The docker CLI's sections alone (after host_script, when the API cannot be used)."""
    return "\n".join([_timeout_line(), *docker_sections(), "exit 0"]) + "\n"


def df_script(data_root: str | None) -> str:
    """The `df` section for the Engine API path, which learnt the data root from the API
    (another than DEFAULT_DATA_ROOT: this section replaces the host script's)."""
    return _section("df", "df -Pk / " + (sh([data_root]) if data_root else "") + " 2>&1")


def split_sections(output: str) -> dict[str, list[str]]:
    """The script's output by section: each marker's non-empty lines, right-stripped. A
    section printed again replaces the first (df, see df_script)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        m = re.fullmatch(r"--deployer-health:([a-z]+)--", line.strip())
        if m:
            current = out[m.group(1)] = []
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return out


def clock_of(output: str) -> float | None:
    """The host's clock as the clock section printed it."""
    lines = split_sections(output).get("clock") or [""]
    try:
        return float(lines[0])
    except ValueError:
        return None
