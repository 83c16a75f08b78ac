"""The host health script: ONE remote shell command that prints sections (health/facts.py
parses them). Every section starts with a marker line `--deployer-health:NAME--`; a
section that failed prints `!error: TEXT` instead of data. Pure: builds text only.
"""

from __future__ import annotations

import shlex

from deployer.docker.facts import IMAGE_FORMAT, facts_lines
from deployer.docker.labels import LABEL_MANAGED
from deployer.docker.proxy import PROXY_NAME, routes_script

MARK = "--deployer-health:{}--"
RESTART_WINDOW_MIN = 10  # restarts are counted over this many minutes (docker events)
DOCKER_TIMEOUT = 10  # seconds for each docker call on the host

# Every container (deployer's or not), for names and published ports.
PS_FORMAT = (
    '{"id":{{json .ID}},"name":{{json .Names}},"image":{{json .Image}},'
    '"state":{{json .State}},"ports":{{json .Ports}},'
    '"managed":{{json (.Label "deployer.managed")}}}'
)
ENGINE_FORMAT = "{{.ServerVersion}}|{{.DockerRootDir}}"


def _section(name: str, body: str) -> str:
    return f"echo {shlex.quote(MARK.format(name))}\n{body}\n"


def script(state_dir: str = "/var/lib/deployer") -> str:
    """The one remote command: prints every section, never fails as a whole."""
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
    managed = "\n".join(facts_lines(docker=d, on_error="echo '!error: docker ps failed'"))
    images = (
        f"ids=$({d} ps -aq --filter label={LABEL_MANAGED}=true 2>/dev/null)\n"
        f"[ -z \"$ids\" ] || {d} inspect --format '{{{{.Image}}}}' $ids 2>/dev/null | sort -u | "
        f"xargs -r {d} image inspect --format {q(IMAGE_FORMAT)} 2>/dev/null"
    )
    parts = [
        "T=; command -v timeout >/dev/null 2>&1 && T='timeout " + str(DOCKER_TIMEOUT) + "'",
        _section("clock", "date +%s.%N"),
        _section("engine", engine),
        _section(
            "df",
            'root=$(echo "$out" | sed -n "s/^[^|]*|//p" | head -n 1)\n'
            'df -Pk / ${root:+"$root"} 2>&1',
        ),
        _section("meminfo", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"),
        _section("loadavg", "cat /proc/loadavg"),
        _section("nproc", "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo"),
        _section("uptime", "cat /proc/uptime"),
        _section(
            "listen", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {print $2}'"
        ),
        _section("events", events),
        _section(
            "ps",
            f"{d} ps -a --no-trunc --format {q(PS_FORMAT)} 2>/dev/null "
            "|| echo '!error: docker ps failed'",
        ),
        _section("managed", managed),
        _section("images", images),
        # the proxy (proxy mode): running, image; then where each route points
        _section(
            "proxy",
            f"{d} inspect --format '{{{{.State.Running}}}} {{{{.Config.Image}}}}' {PROXY_NAME} "
            "2>/dev/null || echo none",
        ),
        _section("routes", routes_script(state_dir).strip()),
        "exit 0",
    ]
    return "\n".join(parts) + "\n"
