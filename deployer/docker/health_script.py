"""The host health script: ONE remote shell command that prints sections (health/facts.py
parses them). Every section starts with a marker line `--deployer-health:NAME--`; a
section that failed prints `!error: TEXT` instead of data. Pure: builds text only.
"""

from __future__ import annotations

import shlex

from deployer.docker.facts import IMAGE_FORMAT, INSPECT_FORMAT, MARK_CONTAINERS
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
# sed scripts on that output: the ids of deployer-managed containers (a JSON string cannot
# hold an unescaped `"`, so these patterns match only the fields themselves)
MANAGED_ID = 's/^{"id":"\\([0-9a-f]\\{1,64\\}\\)",.*"managed":"true"}$/\\1/p'
IMAGE_ID = 's/^.*"image_id":"\\(sha256:[0-9a-f]\\{64\\}\\)".*$/\\1/p'


PROXY_PS_NAME = f'"name":"{PROXY_NAME}"'  # the proxy's line in that output


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
        _section("ps", ps),
        _section("managed", managed),
        _section("images", images),
        # the proxy (proxy mode): running, image; then where each route points
        _section("proxy", proxy),
        _section("routes", routes_script(state_dir).strip()),
        "exit 0",
    ]
    return "\n".join(parts) + "\n"
