"""The proxy container itself (Caddy, `deployer-proxy`): what it is made of, and the script
that installs, upgrades or restarts it. Pure builders; its routes are docker/proxy.py's.

An upgrade (a new image or new ports) is the one step that drops connections, for about a
second: the old proxy must let go of the public ports before the new one can take them.
The old one is only renamed aside, never removed, until the new one runs and took its
config; if the new one fails, the old one is put back and started, so a failed upgrade
leaves the host as it was.
"""

from __future__ import annotations

import hashlib
import json
import shlex

from deployer.docker.labels import NETWORK
from deployer.docker.proxy import (
    LABEL_PROXY,
    PROXY_NAME,
    assemble_lines,
    lock_lines,
    proxy_dir,
    reload_line,
    unlock_line,
)
from deployer.docker.shell import sh
from deployer.model import ProxyHost

NEXT = PROXY_NAME + "_next"  # the new proxy before it takes the name
ASIDE = PROXY_NAME + "_old"  # the old proxy while the new one proves itself
MARK_STATE = "--deployer-proxy-state--"
TAKE_TRIES = 75  # a proxy just started takes its config within 75 tries 0.2 s apart
# Caddy binds a new listening socket (SO_REUSEPORT) at every config reload and closes the old
# one; without this the kernel resets the connections still queued on the old socket
# (handshakes done, not yet accepted). With it they move to the new socket. Linux 5.14+
# only: on an older kernel the proxy is made without it (the runtime would refuse to start
# a container asking for a sysctl the kernel lacks). Not part of the settings hash: a proxy
# made before is not replaced for it (a replacement refuses connections for a moment); it
# gets it at its next replacement.
MIGRATE_SYSCTL = "net.ipv4.tcp_migrate_req"
HAS_MIGRATE = "[ -e /proc/sys/net/ipv4/tcp_migrate_req ]"


def settings_hash(settings: ProxyHost) -> str:
    """What the proxy container is made of: a change means a new proxy container."""
    data = {
        "image": settings.image,
        "http": settings.http_port,
        "https": settings.https_port if settings.tls_cert else None,
        "network": NETWORK,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def run_argv(settings: ProxyHost, name: str, *, migrate: bool = True) -> list[str]:
    argv = [
        "docker",
        "create",
        "--name",
        name,
        "--network",
        NETWORK,
        "--label",
        f"{LABEL_PROXY}={settings_hash(settings)}",
        "--restart",
        "unless-stopped",
        "-p",
        f"{settings.http_port}:80",
    ]
    if settings.tls_cert:
        argv += ["-p", f"{settings.https_port}:443"]
    if migrate:
        argv += ["--sysctl", f"{MIGRATE_SYSCTL}=1"]
    # --resume: after a restart (a host reboot), the config it last had (Caddy keeps it)
    return [*argv, settings.image, "caddy", "run", "--resume"]


def listening_line(pid_var: str, port: int, seconds: int) -> str:
    """Shell: wait (bounded by the clock) until something in the namespace of process
    $pid_var listens on `port`."""
    hexport = f"{port:04X}"
    probe = (
        f"awk '$2 ~ /:{hexport}$/ && $4 == \"0A\" {{n++}} END {{print n+0}}' "
        f"/proc/${pid_var}/net/tcp /proc/${pid_var}/net/tcp6 2>/dev/null"
    )
    return (
        f"end=$(( $(date +%s) + {seconds} )); "
        f'while [ "$({probe})" = 0 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done'
    )


def state_lines(state_dir: str) -> list[str]:
    """Shell: print MARK_STATE, the proxy's settings hash (`-` when there is no proxy,
    `none` when the container was not made by deployer), whether it runs, and the sha256 of
    the TLS certificate it serves (`-` without)."""
    fmt = shlex.quote(
        "{{with index .Config.Labels "
        + json.dumps(LABEL_PROXY)
        + "}}{{.}}{{else}}none{{end}} {{.State.Running}}"
    )
    cert = shlex.quote(proxy_dir(state_dir) + "/tls/cert.pem")
    return [
        f"s=$(docker inspect --format {fmt} {PROXY_NAME} 2>/dev/null) || s='- false'",
        f"c=$(sha256sum < {cert} 2>/dev/null | cut -c1-64); echo {MARK_STATE} $s ${{c:--}}",
    ]


def parse_state(stdout: str) -> tuple[str, bool, str] | None:
    """state_lines' output: (settings hash, running, certificate sha256), or None."""
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == MARK_STATE:
            return words[1], words[2] == "true", words[3]
    return None


def upkeep(
    settings: ProxyHost, cert_pem: str | None, state: tuple[str, bool, str] | None
) -> tuple[str, ...]:
    """What the host's proxy needs before proxied containers can rely on it, in words; ()
    when it is as it should be. cert_pem: the certificate's PEM blocks it must serve."""
    if state is None:
        return ()
    have, running, cert = state
    if have == "-":
        return ("proxy: missing, to be started",)
    if have != settings_hash(settings):
        return (f"proxy: to be replaced ({settings.image}, ports or TLS changed)",)
    want = hashlib.sha256(cert_pem.encode()).hexdigest() if cert_pem else "-"
    changes: tuple[str, ...] = () if running else ("proxy: stopped, to be started",)
    if cert != want:
        changes += ("proxy: TLS certificate changed, to be reloaded",)
    return changes


def _prepare_lines(settings: ProxyHost, state_dir: str, cert_len: int) -> list[str]:
    """The network, the proxy's folder, and the TLS files from stdin."""
    lines = [
        "set -u",
        f"P={shlex.quote(proxy_dir(state_dir))}",
        'mkdir -p "$P/routes" "$P/tls" || exit 1',
        'chmod 700 "$P/tls"',
        f"docker network inspect {NETWORK} >/dev/null 2>&1 || "
        f"docker network create {NETWORK} >/dev/null 2>&1 || "
        f"docker network inspect {NETWORK} >/dev/null || exit 1",
    ]
    if settings.tls_cert:
        return [
            *lines,
            "(umask 077",
            f' dd bs=1 count={int(cert_len)} of="$P/tls/cert.new" 2>/dev/null',
            ' cat > "$P/tls/key.new") || exit 1',
            'mv -f "$P/tls/cert.new" "$P/tls/cert.pem" && mv -f "$P/tls/key.new" "$P/tls/key.pem" '
            "|| exit 1",
        ]
    return [*lines, 'rm -f "$P/tls/cert.pem" "$P/tls/key.pem"']


def _replace_lines(settings: ProxyHost) -> list[str]:
    """Shell (inside the lock, $have set): the new proxy beside the old one, which is
    stopped and set aside; the new one must start and take its config, else it goes and
    the old one comes back."""
    q = shlex.quote
    rm = "docker rm -f -v {} >/dev/null 2>&1"  # -v: Caddy's anonymous volumes go with it
    return [
        "  err='it could not take the name'",
        f"  {rm.format(NEXT)}",
        f"  if {HAS_MIGRATE}; then {sh(run_argv(settings, NEXT))}; "
        f"else {sh(run_argv(settings, NEXT, migrate=False))}; fi >/dev/null || exit 1",
        '  if [ -n "$have" ]; then',
        f"    {rm.format(ASIDE)}",
        f"    docker stop -t 5 {PROXY_NAME} >/dev/null 2>&1",
        f"    docker rename {PROXY_NAME} {ASIDE} || {{ {rm.format(NEXT)}; "
        f"docker start {PROXY_NAME} >/dev/null; exit 1; }}",
        "  fi",
        f'  docker rename {NEXT} {PROXY_NAME} && rm -f "$P/loaded.json" && '
        f"err=$(docker start {PROXY_NAME} 2>&1 >/dev/null) && take",
        "  if [ $? -ne 0 ]; then why=$err",
        f"    {rm.format(PROXY_NAME)}; {rm.format(NEXT)}",
        '    if [ -n "$have" ]; then',
        f"      docker rename {ASIDE} {PROXY_NAME}; docker start {PROXY_NAME} >/dev/null; take",
        f'      echo {q(f"the new proxy ({settings.image}) did not start: ")}"$why"'
        "'; the old proxy was put back' >&2",
        "    else",
        f'      echo {q(f"the proxy ({settings.image}) did not start: ")}"$why" >&2',
        "    fi",
        "    exit 1",
        "  fi",
        f"  {rm.format(ASIDE)}",
    ]


def ensure_script(settings: ProxyHost, state_dir: str, *, cert_len: int = 0) -> str:
    """Make the host ready for proxied containers: the network, the proxy's folder (and TLS
    files from stdin: the certificate's `cert_len` bytes, then the key), its config, and the
    proxy container itself: created when missing, replaced when its settings changed (see
    the module's docstring), started when stopped, reloaded when its config changed.
    Prints the proxy's image.
    """
    q = shlex.quote
    fmt = q(
        "{{with index .Config.Labels "
        + json.dumps(LABEL_PROXY)
        + "}}{{.}}{{else}}none{{end}} {{.State.Running}}"
    )
    lines = [
        *_prepare_lines(settings, state_dir, cert_len),
        *lock_lines(),
        *assemble_lines(bool(settings.tls_cert)),
        # take: hand caddy.json to the proxy, which may just have started
        # retried while it fails fast (the proxy just started); a reload that hung until its
        # bound is not tried again
        f"take() {{ i=0; until t0=$(date +%s); err=$({reload_line()} 2>&1); do i=$((i+1)); "
        f"[ $i -le {TAKE_TRIES} ] && [ $(( $(date +%s) - t0 )) -lt 5 ] || return 1; sleep 0.2; "
        "done; }",
        # an upgrade cut short (the connection lost halfway): the old proxy comes back
        f"if ! docker inspect {PROXY_NAME} >/dev/null 2>&1 && "
        f"docker inspect {ASIDE} >/dev/null 2>&1; then docker rename {ASIDE} {PROXY_NAME}; fi",
        f"set -- $(docker inspect --format {fmt} {PROXY_NAME} 2>/dev/null); "
        "have=${1:-}; up=${2:-}",
        'if [ "$have" = none ]; then echo "a container named '
        + PROXY_NAME
        + " that deployer did not make runs on this host: rename it (deployer runs its "
        'proxy under that name)" >&2; exit 1; fi',
        f'if [ "$have" != {q(settings_hash(settings))} ]; then',
        *_replace_lines(settings),
        'elif [ "$up" != true ]; then rm -f "$P/loaded.json"; '
        f"docker start {PROXY_NAME} >/dev/null || exit 1",
        "fi",
        # Every reload is graceful, but Caddy 2.6 hands its listening socket over on each
        # one (SO_REUSEPORT) and may reset a connection arriving at that instant: reload
        # only when the proxy does not run what is on file (just started, or it changed).
        'if ! cmp -s "$P/caddy.json" "$P/loaded.json"; then',
        '  take || { echo "the proxy does not take its config: $err" >&2; exit 1; }',
        "fi",
        f"pid=$(docker inspect --format '{{{{.State.Pid}}}}' {PROXY_NAME})",
        f'[ "${{pid:-0}}" -le 0 ] || {{ {listening_line("pid", 80, 15)}; }}',
        unlock_line(),
        f"docker inspect --format '{{{{.Config.Image}}}}' {PROXY_NAME}",
    ]
    return "\n".join(lines) + "\n"
