"""The host's reverse proxy (Caddy, run as a container): pure builders of its scripts.

The proxy owns the host's public ports. Apps behind it publish no port: they join the
`deployer` network, and each has one route (a Caddy route object, one file per app under
`<state>/proxy/routes/`). Every change of a route rewrites the whole Caddy config from
those files and hands it to the running Caddy (`caddy reload`, the binary being its own
admin client; the admin endpoint listens on localhost inside the proxy's container only).
Caddy applies a new config atomically and gracefully: requests in flight finish on the
old upstream, new ones go to the new one, the listening socket is never closed.

A route names its upstream by the container's short id, which Docker's DNS on a
user-defined network resolves and which a rename or a restart does not change.

Changes of routes on one host are serialized by `<state>/proxy/lock` (mkdir).
"""

from __future__ import annotations

import json
import math
import shlex

from deployer.docker.guard import name_holder, prev_name
from deployer.docker.shell import sh
from deployer.model import ContainerSpec, ProxySpec

PROXY_NAME = "deployer-proxy"
LABEL_PROXY = "deployer.proxy"  # the proxy container's settings hash
ADMIN = "localhost:2019"
UPSTREAM_IDLE = "2s"  # Caddy keeps idle upstream connections this long (a drain ends after)
LOCK_WAIT_SECONDS = 600  # another app's switch may be stopping its old version meanwhile
DRAIN_MIN_SECONDS = 1.0  # a request dispatched just before the switch is connected by then
DRAIN_DEFAULT = 30.0  # a route's grace when none is on file (ProxySpec's default drain)
RELOAD_SLACK_SECONDS = 30  # a reload takes at most the grace period and this
MARK_SWITCHED = "--deployer-switched--"
MARK_ROUTE = "--deployer-route--"


def proxy_dir(state_dir: str) -> str:
    return f"{state_dir}/proxy"


def route_file(spec_name: str, proxy: ProxySpec) -> str:
    """`routes/<order>=<name>.json`: Caddy tries routes in file order, so routes for an exact
    host come first, then wildcard hosts, then any host; within each, longer path prefixes
    first. `=` is not allowed in container names."""
    kind = 2 if not proxy.host else 1 if proxy.host.startswith("*.") else 0
    order = f"{kind}{9999 - len(proxy.path):04d}"
    return f"{order}={spec_name}.json"


def route_glob(name: str) -> str:
    """Shell words matching every route file of `name`, whatever its order prefix."""
    return f'"$P"/routes/*={shlex.quote(name + ".json")}'


def route_json(spec_name: str, proxy: ProxySpec, container_id: str) -> str:
    match: dict[str, list[str]] = {}
    if proxy.host:
        match["host"] = [proxy.host]
    if proxy.path != "/":
        match["path"] = [proxy.path, proxy.path + "/*"]
    route: dict[str, object] = {
        "group": f"deployer-{spec_name}",
        "handle": [
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": f"{container_id[:12]}:{proxy.port}"}],
                "transport": {"protocol": "http", "keep_alive": {"idle_timeout": UPSTREAM_IDLE}},
            }
        ],
        "terminal": True,
    }
    if match:
        route["match"] = [match]
    return json.dumps(route, sort_keys=True, separators=(",", ":"))


def parse_route(text: str) -> tuple[ProxySpec, str]:
    """route_json's inverse: the route's match and port, and the container id it dials.
    Raises ValueError (or KeyError, IndexError) on a line that is not such a route."""
    route = json.loads(text)
    match = (route.get("match") or [{}])[0]
    target, _, port = route["handle"][0]["upstreams"][0]["dial"].rpartition(":")
    host = (match.get("host") or [None])[0]
    path = (match.get("path") or ["/"])[0]
    return ProxySpec(port=int(port), host=host, path=path), target


_FALLBACK = json.dumps(
    {
        "handle": [
            {"handler": "static_response", "status_code": 404, "body": "no app is routed here\n"}
        ]
    },
    separators=(",", ":"),
)


def assemble_lines(tls: bool) -> list[str]:
    """Shell (inside the lock, $P set): write caddy.json from the route files, atomically.

    With TLS, the certificate and key (files in $P/tls, 0600) go into the config inline
    (Caddy's `load_pem`): the proxy's container needs no folder of the host.
    """
    server = (
        '"{name}":{{"listen":[":{port}"],"automatic_https":{{"disable":true}},{extra}"routes":['
    )
    servers = [("http", 80, "")]
    if tls:
        servers.append(("https", 443, '"tls_connection_policies":[{}],'))
    lines = [
        'r=; for f in "$P"/routes/*.json; do [ -f "$f" ] || continue; r="$r$(cat "$f"),"; done',
        *grace_lines(),
        # PEM text as a JSON string: base64, dashes and spaces; line ends become \n
        # PEM blocks only (base64, dashes, spaces), line ends as \n: a JSON string as it is
        "pem() { tr -d '\\r' < \"$1\" | sed -n '/^-----BEGIN /,/^-----END /p' | "
        "awk '{printf \"%s\\\\n\", $0}'; }",
        "um=$(umask); umask 077",  # with TLS, the key is in it: never readable by others
        "{ printf %s " + shlex.quote('{"admin":{"listen":"' + ADMIN + '"},"apps":{'),
    ]
    if tls:
        lines += [
            "  printf %s " + shlex.quote('"tls":{"certificates":{"load_pem":[{"certificate":"'),
            '  pem "$P/tls/cert.pem"',
            "  printf %s " + shlex.quote('","key":"'),
            '  pem "$P/tls/key.pem"',
            "  printf %s " + shlex.quote('"}]}},'),
        ]
    # how long a reload lets requests in flight on the old config finish (Caddy's default
    # waits forever, and `caddy reload` with it): the longest drain among the routes
    lines.append('  printf \'"http":{"grace_period":"%ss","servers":{\' "$(grace)"')
    for i, (name, port, extra) in enumerate(servers):
        text = ("," if i else "") + server.format(name=name, port=port, extra=extra)
        lines.append(f"  printf %s {shlex.quote(text)}")
        lines.append('  printf %s "$r"')
        lines.append(f"  printf %s {shlex.quote(_FALLBACK + ']}')}")
    lines.append("  printf %s '}}}}'; } > \"$P/caddy.json.new\" || exit 1")
    lines += [
        'chmod 600 "$P/caddy.json.new"',
        "umask $um",
        'mv -f "$P/caddy.json.new" "$P/caddy.json" || exit 1',
    ]
    return lines


def grace_file(spec_name: str) -> str:
    """`grace/<name>`: the app's drain in whole seconds, next to its route."""
    return f"grace/{spec_name}"


def grace_lines() -> list[str]:
    """Shell ($P set): `grace` prints the longest drain of the apps routed (whole seconds,
    DRAIN_DEFAULT when none is on file)."""
    return [
        'grace() { g=$(cat "$P"/grace/* 2>/dev/null | sort -n | tail -n 1); '
        f"case $g in ''|*[!0-9]*) g={int(DRAIN_DEFAULT)};; esac; echo $g; }}",
    ]


def lock_lines(wait: int | None = None) -> list[str]:
    """Shell ($P set): take the proxy's route lock, waiting at most `wait` seconds (by the
    clock: a loaded host makes rounds slower, not the bound longer; default
    LOCK_WAIT_SECONDS). The lock holds its taker's pid: a lock whose process is gone (or that
    never got its pid within a minute) is broken, by renaming it away first so that two
    breakers cannot both take it."""
    seconds = LOCK_WAIT_SECONDS if wait is None else wait
    return [
        f"end=$(( $(date +%s) + {int(seconds) + 1} ))",  # whole seconds: at least `seconds`
        'until mkdir "$P/lock" 2>/dev/null; do',
        '  lp=$(cat "$P/lock/pid" 2>/dev/null)',
        '  if { [ -n "$lp" ] && [ ! -d "/proc/$lp" ]; } || { [ -z "$lp" ] && '
        '[ -n "$(find "$P/lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; }; then '
        '[ "$(cat "$P/lock/pid" 2>/dev/null)" = "$lp" ] && mv "$P/lock" "$P/lock.stale.$$" '
        '2>/dev/null && rm -rf "$P/lock.stale.$$"; continue; fi',
        '  if [ "$(date +%s)" -ge "$end" ]; then echo \'the proxy configuration is busy '
        "(another run holds its lock)' >&2; exit 1; fi",
        "  sleep 0.1",
        "done",
        'echo $$ > "$P/lock/pid"',
        "trap 'rm -rf \"$P/lock\"' EXIT",
    ]


def unlock_line() -> str:
    return 'rm -rf "$P/lock"; trap - EXIT'


def reload_line() -> str:
    """Shell: hand caddy.json to the running proxy (fails if it is not running or rejects it)
    and keep a copy of what it took (`loaded.json`: a run reloads only when that differs)."""
    argv = ["docker", "exec", "-i", PROXY_NAME, "caddy", "reload", "--config", "/dev/stdin"]
    # bounded: the reload waits for the old config's requests up to the grace period
    return (
        # the longer of the new config's grace and the one it replaces ($og, set by a caller
        # that changes the drains): Caddy waits for the OLD config's requests
        f"{{ g=$(grace); timeout $(( (g > ${{og:-0}} ? g : ${{og:-0}}) + {RELOAD_SLACK_SECONDS} )) "
        + sh([*argv, "--address", ADMIN, "--force"])
        + ' < "$P/caddy.json" && cp -f "$P/caddy.json" "$P/loaded.json"; }'
    )


def drain_lines(old_id: str, port: int, seconds: float) -> list[str]:
    """Shell: wait until the old container has no TCP connection left on the app's port
    (requests in flight done, the proxy's idle connections closed), at least
    DRAIN_MIN_SECONDS, at most `seconds`."""
    hexport = f"{port:04X}"
    count = (
        f'awk \'$2 ~ /:{hexport}$/ && ($4 == "01" || $4 == "03") {{n++}} END {{print n+0}}\' '
        "/proc/$opid/net/tcp /proc/$opid/net/tcp6 2>/dev/null"
    )
    tenths = max(0, int(seconds * 10))
    return [
        f"sleep {DRAIN_MIN_SECONDS}",
        f"opid=$(docker inspect --format '{{{{.State.Pid}}}}' {shlex.quote(old_id)} 2>/dev/null)",
        # rounds of 0.1 s, and the clock: a loaded host makes rounds slower, not drains longer
        f"end=$(( $(date +%s) + {math.ceil(seconds) + 1} ))",
        'i=0; while [ "${opid:-0}" -gt 0 ] && [ -r "/proc/$opid/net/tcp" ] '
        f'&& [ "$({count})" != 0 ] && [ $i -lt {tenths} ] && [ "$(date +%s)" -lt "$end" ]; '
        "do sleep 0.1; i=$((i+1)); done",
        'echo "drained $((i / 10)).$((i % 10))s"',
    ]


def cancel_file(container_id: str) -> str:
    """`cancel/<short id>`: a restore gave this version up; a switch still under way (the
    controller timed out waiting for it) must not route to it."""
    return f"cancel/{container_id[:12]}"


def switch_script(
    spec: ContainerSpec,
    new_id: str,
    old_id: str | None,
    *,
    tls: bool,
    state_dir: str,
    route: ProxySpec | None = None,
    old_port: int | None = None,
) -> str:
    """Route `spec.name` to `new_id` (healthy already), let `old_id` drain, retire it.

    Runs to its end on the host even if the connection drops (HUP ignored): a half-done
    switch would leave the names and the route disagreeing. It routes nothing if a restore
    gave `new_id` up meanwhile (its cancel file), and after the drain, the old one is
    stopped only if the route still points at the new one (a restore may have switched back).
    route: the proxy settings `new_id` was deployed with (a rollback's retained version),
    else the spec's. old_port: the port `old_id` serves on (its recorded spec's), for the
    drain. The drain's bound and the stop follow the spec.
    """
    assert spec.proxy is not None
    q = shlex.quote
    proxy = route or spec.proxy
    fname = route_file(spec.name, proxy)
    lines = [
        "trap '' HUP PIPE",
        "set -u",
        f"P={q(proxy_dir(state_dir))}",
        *lock_lines(),
        f'if [ -e "$P/{cancel_file(new_id)}" ]; then echo "this version was given up while '
        'the switch waited (the controller timed out): nothing routed" >&2; exit 1; fi',
        'rm -rf "$P/undo"; mkdir -p "$P/undo" "$P/grace" || exit 1',
        f'for g in {route_glob(spec.name)}; do [ -f "$g" ] && mv -f "$g" "$P/undo/"; done',
        f'cp -f "$P/{grace_file(spec.name)}" "$P/undo/grace" 2>/dev/null',
        *grace_lines(),
        "og=$(grace)",
        f"printf '%s\\n' {q(route_json(spec.name, proxy, new_id))} > \"$P/routes/{fname}\" || exit 1",
        f'echo {math.ceil(proxy.drain)} > "$P/{grace_file(spec.name)}"',
        *assemble_lines(tls),
        f"if ! err=$({reload_line()} 2>&1); then",
        f'  rm -f "$P/routes/{fname}" "$P/{grace_file(spec.name)}"',
        f'  mv -f "$P/undo/grace" "$P/{grace_file(spec.name)}" 2>/dev/null',
        '  mv -f "$P/undo/"* "$P/routes/" 2>/dev/null',
        *["  " + ln for ln in assemble_lines(tls)],
        # the failed reload may have been cut after Caddy took the new config: hand it the
        # old one again; if that fails too, whatever it runs is unknown: the next run reloads
        f'  {reload_line()} >/dev/null 2>&1 || rm -f "$P/loaded.json"',
        '  echo "the proxy refused the new route: $err" >&2; exit 1',
        "fi",
        f"echo {MARK_SWITCHED}",
        unlock_line(),
    ]
    if old_id:
        lines += drain_lines(old_id, old_port or spec.proxy.port, spec.proxy.drain)
    lines += [
        *lock_lines(),
        f"grep -qF {q(chr(34) + 'dial' + chr(34) + ':' + chr(34) + new_id[:12] + ':')} "
        f"\"$P/routes/{fname}\" || {{ echo 'the route changed meanwhile: nothing retired' >&2; exit 0; }}",
    ]
    if old_id:
        lines += [
            sh(["docker", "stop", "-t", str(spec.stop_timeout), old_id]) + " >/dev/null",
            f'[ "{name_holder(spec.name)}" != {q(old_id)} ] || '
            + sh(["docker", "rename", old_id, prev_name(spec.name, old_id)]),
        ]
    lines += [
        f'cur={name_holder(spec.name)}; [ "$cur" = {q(new_id)} ] || '
        + sh(["docker", "rename", new_id, spec.name])
        + " || echo 'routed, but it keeps its temporary name' >&2",
        unlock_line(),
    ]
    return "\n".join(lines) + "\n"


def route_back_lines(
    spec: ContainerSpec,
    failed_id: str | None,
    previous_id: str | None,
    *,
    tls: bool,
    state_dir: str,
    previous_route: ProxySpec | None = None,
) -> list[str]:
    """Shell, before a restore, under the lock: mark `failed_id` given up (a switch still
    waiting for the lock then routes nothing), and if the route points at it (a switch got
    that far), bring `previous_id` back under its name, running, and route to it (or drop
    the route when there was none before). A route pointing elsewhere is left alone.
    previous_route: the proxy settings the previous version was deployed with."""
    assert spec.proxy is not None
    if not failed_id:
        return []
    q = shlex.quote
    back = previous_route or spec.proxy
    fname = route_file(spec.name, back)
    dial = q('"dial":"' + failed_id[:12] + ":")
    lines = [
        "trap '' HUP PIPE",
        f"P={q(proxy_dir(state_dir))}",
        'if [ -d "$P/routes" ]; then',
        *["  " + ln for ln in lock_lines()],
        f'  mkdir -p "$P/cancel" && : > "$P/{cancel_file(failed_id)}"',
        *["  " + ln for ln in grace_lines()],
        "  og=$(grace)",
        '  find "$P/cancel" -type f -mmin +1440 -exec rm -f {} + 2>/dev/null',
        f"  if grep -qsF {dial} {route_glob(spec.name)}; then",
    ]
    if previous_id:
        fmt, p, n = q("{{.Name}}"), q(previous_id), q("/" + spec.name)
        lines += [
            f'    if [ "$(docker container inspect --format {fmt} {p})" != {n} ]; then',
            f"      cur={name_holder(spec.name)}",
            '      [ -z "$cur" ] || docker rename "$cur" '
            + q(spec.name + "_prev_")
            + '"$(printf %.12s "$cur")"',
            "      " + sh(["docker", "rename", previous_id, spec.name]),
            "    fi",
            "    " + sh(["docker", "start", previous_id]) + " >/dev/null",
            f"    rm -f {route_glob(spec.name)}",
            f"    printf '%s\\n' {q(route_json(spec.name, back, previous_id))} "
            f'> "$P/routes/{fname}"',
            f'    mkdir -p "$P/grace"; echo {math.ceil(back.drain)} > "$P/{grace_file(spec.name)}"',
        ]
    else:
        lines.append(f'    rm -f {route_glob(spec.name)} "$P/{grace_file(spec.name)}"')
    lines += [
        *["    " + ln for ln in assemble_lines(tls)],
        f'    {reload_line()} >/dev/null || {{ rm -f "$P/loaded.json"; echo \'ROUTE NOT '
        "RESTORED: the proxy did not take the route back; it may still route to the failed "
        "version' >&2; }",
        "  fi",
        "  " + unlock_line(),
        "fi",
    ]
    return lines


def drop_route_script(name: str, *, tls: bool, state_dir: str) -> str:
    """Remove `name`'s route (a container that left proxy mode), if it has one."""
    q = shlex.quote
    lines = [
        "trap '' HUP PIPE",
        f"P={q(proxy_dir(state_dir))}",
        f'for g in {route_glob(name)}; do [ -f "$g" ] || exit 0; done',
        *lock_lines(),
        *grace_lines(),
        "og=$(grace)",
        f'rm -f {route_glob(name)} "$P/{grace_file(name)}"',
        *assemble_lines(tls),
        f'{reload_line()} >/dev/null 2>&1 || {{ rm -f "$P/loaded.json"; echo \'the proxy did '
        "not take the config without the route' >&2; exit 1; }",
        unlock_line(),
    ]
    return "\n".join(lines) + "\n"


def routes_script(state_dir: str) -> str:
    """Print each route file's name and content (for health reports)."""
    return (
        f'for f in {shlex.quote(proxy_dir(state_dir))}/routes/*.json; do [ -f "$f" ] || continue; '
        f'echo {MARK_ROUTE} "${{f##*/}}"; cat "$f"; echo; done\n'
    )
