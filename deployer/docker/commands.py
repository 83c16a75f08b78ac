"""Pure builders: what to run on a host, as argv lists, joined into POSIX sh scripts.

Every value that came from a user's file reaches the shell through `shlex.quote`
in `sh()`, and nowhere else. Secret values never appear here: they travel on the
command's stdin and land in a 0600 file inside a private `mktemp -d` folder.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence

from deployer.docker import access, locking
from deployer.docker.facts import (  # noqa: F401 - the one docker room: builders use these
    IMAGE_FORMAT,
    INSPECT_FORMAT,
    IP_FORMAT,
    MARK_ADDR,
    MARK_CONTAINERS,
    MARK_IMAGES,
    MARK_SECRETS,
    addr_line,
    facts_lines,
    parse_addr,
    secret_digest_lines,
)
from deployer.docker.guard import name_holder, prev_name, remove_attempt_line
from deployer.docker.labels import (  # noqa: F401
    LABEL_ATTEMPT,
    LABEL_DEPLOYED_AT,
    LABEL_DEPLOYED_BY,
    LABEL_IMAGE,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    NETWORK,
)
from deployer.docker.options import command_args, options_argv, pull_line, pull_policies
from deployer.docker.shell import Raw, sh
from deployer.model import ContainerSpec, RegistryAuth, secret_digest, spec_hash, spec_public  # noqa: F401

EXIT_LOCKED = locking.EXIT_LOCKED
EXIT_LOGIN = 76
EXIT_PULL = 77


TMPDIR = Raw('"$D"')
ENV_FILE = Raw('"$D/env"')
SECRET_DIR = [  # a private folder for secrets; removed on exit, and on a signal too
    "D=$(mktemp -d) || exit 1",
    "trap 'rm -rf \"$D\"' EXIT",
    "trap 'exit 1' HUP INT TERM PIPE",
    'chmod 700 "$D"',
]


def run_argv(
    spec: ContainerSpec,
    env_file: Raw | None,
    deployed_at: str,
    deployed_by: str,
    *,
    attempt: str | None = None,
    create_as: str | None = None,
) -> list[str]:
    """`docker run -d` for a spec, as docker would be called by hand.

    create_as: `docker create` under that name instead (the same options; started later).
    """
    argv = (
        ["docker", "create", "--name", create_as]
        if create_as
        else ["docker", "run", "-d", "--name", spec.name]
    )
    labels = {
        **dict(spec.labels),
        LABEL_MANAGED: "true",
        LABEL_NAME: spec.name,
        LABEL_SPEC_HASH: spec_hash(spec),
        LABEL_SPEC: json.dumps(spec_public(spec), sort_keys=True, separators=(",", ":")),
        LABEL_IMAGE: spec.image,
        LABEL_DEPLOYED_AT: deployed_at,
        LABEL_DEPLOYED_BY: deployed_by,
        **({LABEL_ATTEMPT: attempt} if attempt else {}),
    }
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for port in spec.ports:
        argv += ["-p", port.to_docker()]
    if spec.proxy is not None:  # no port of its own: reached by the proxy on this network
        argv += ["--network", NETWORK]
    elif spec.networks:  # the others are joined before it starts (connect_lines)
        argv += ["--network", spec.networks[0].name]
        for alias in spec.networks[0].aliases:
            argv += ["--network-alias", alias]
    for key, value in spec.env:
        argv += ["-e", f"{key}={value}"]
    if env_file is not None:
        argv += ["--env-file", env_file]
    for volume in spec.volumes:
        argv += ["-v", volume]
    argv += ["--restart", spec.restart, "--stop-timeout", str(spec.stop_timeout)]
    argv += options_argv(spec.options)
    return [*argv, spec.image, *command_args(spec)]


def secrets_stdin(spec: ContainerSpec) -> str:
    """The env-file content (KEY=value lines) sent on stdin; empty when no secrets."""
    return "".join(f"{k}={v.reveal()}\n" for k, v in spec.secret_env)


def prepare_script(
    images: Sequence[str],
    registry: RegistryAuth | None,
    *,
    state_dir: str,
    lock_info: str | None,
    lock_prio: str = "",
    lock_wait: float = 0,
    pull: bool = True,
    secrets_of: Sequence[ContainerSpec] = (),
    nonce: str = "",
    pull_missing: Sequence[str] = (),
) -> str:
    """Lock, log in (password on stdin), pull, and report containers and images: one command.

    pull_missing: images pulled only when the host has none by that name (the proxy's).

    secrets_of: the host's specs: their images' `pull` policies (always, the default, is
    what deployer always did), and with nonce, salted digests of the live containers'
    secret values. pull=False (--check, rollback) pulls nothing.
    """
    lines = ["set -u"]
    if lock_info is not None:  # a rollout writes there: a clear word when it cannot
        lines += access.state_dir_lines(state_dir)
        lines += locking.acquire_lines(state_dir, lock_info, lock_prio, lock_wait)
    lines += SECRET_DIR
    docker = ["docker", "--config", TMPDIR]
    policies = pull_policies(images, secrets_of)
    if pull and (pull_missing or any(p != "never" for p in policies.values())):
        if registry and registry.username and registry.password:
            server = [registry.server] if registry.server else []
            login = sh([*docker, "login", "-u", registry.username, "--password-stdin", *server])
            lines.append(
                f'{login} >/dev/null 2>"$D/err" || {{ cat "$D/err" >&2; exit {EXIT_LOGIN}; }}'
            )
    for image, policy in policies.items():
        lines += filter(None, [pull_line(image, policy, docker, pull, EXIT_PULL)])
    for image in dict.fromkeys(pull_missing):
        lines.append(
            f"docker image inspect {shlex.quote(image)} >/dev/null 2>&1 || "
            f'{sh([*docker, "pull", "-q", image])} >/dev/null 2>"$D/err" '
            f'|| {{ echo {shlex.quote(image)} >&2; cat "$D/err" >&2; exit {EXIT_PULL}; }}'
        )
    lines.append('rm -rf "$D"')  # the registry login is not needed past the pulls
    lines += facts_lines()
    lines.append(f"echo {MARK_IMAGES}")
    fmt = shlex.quote(IMAGE_FORMAT)
    for image in dict.fromkeys(images):
        lines.append(
            f"docker image inspect --format {fmt} {shlex.quote(image)} 2>/dev/null || true"
        )
    # the images the containers run now (their digests, for reports and the audit)
    lines.append(
        "[ -z \"$ids\" ] || docker inspect --format '{{.Image}}' $ids | sort -u | "
        f"xargs -r docker image inspect --format {fmt} 2>/dev/null || true"
    )
    if any(s.secret_env for s in secrets_of):
        lines += secret_digest_lines(secrets_of, nonce)
    return "\n".join(lines) + "\n"


def temp_name(name: str, attempt: str) -> str:
    return f"{name}_next_{attempt}"


def _create_next_lines(
    spec: ContainerSpec, deployed_at: str, deployed_by: str, attempt: str
) -> list[str]:
    """Shell: `docker create` the new version under its temporary name into $new, its secret
    values from stdin through a private file that goes at once (docker keeps the values)."""
    lines = []
    env_file = None
    if spec.secret_env:
        lines += [*SECRET_DIR, '(umask 077; cat > "$D/env")']
        env_file = ENV_FILE
    create = run_argv(
        spec,
        env_file,
        deployed_at,
        deployed_by,
        attempt=attempt,
        create_as=temp_name(spec.name, attempt),
    )
    lines.append(f"new=$({sh(create)}) || exit 1")
    if spec.secret_env:
        lines.append('rm -rf "$D"')
    return lines + connect_lines(spec)


def connect_lines(spec: ContainerSpec) -> list[str]:
    """Shell: join the created container ($new) to the networks `docker create` could not
    give it (a Docker engine before 25 takes one --network), before it starts; one that
    cannot join goes (nothing half-made is left)."""
    rest = spec.networks if spec.proxy is not None else spec.networks[1:]
    lines = []
    for net in rest:
        argv = ["docker", "network", "connect"]
        for alias in net.aliases:
            argv += ["--alias", alias]
        lines.append(
            f'{sh([*argv, net.name])} "$new" >/dev/null || '
            '{ docker rm -f "$new" >/dev/null 2>&1; exit 1; }'
        )
    return lines


def replace_script(
    spec: ContainerSpec,
    current_id: str | None,
    deployed_at: str,
    deployed_by: str,
    *,
    attempt: str,
    guard: Sequence[str] = (),
) -> str:
    """Create the new container under a temporary name (the old one keeps serving under its
    own), start the host's guard, retire the live one (stopped, renamed, kept for rollback),
    give the new one the name and start it by id; print its id and address.

    A create that fails changes nothing; a container this attempt created that does not
    start is removed by its id: nothing `Created` is left to be taken for a version later.
    """
    lines = ["set -u", *_create_next_lines(spec, deployed_at, deployed_by, attempt)]
    undo = 'docker rm -f "$new" >/dev/null 2>&1; exit 1'
    lines += list(guard)
    if current_id:
        stop = sh(["docker", "stop", "-t", str(spec.stop_timeout), current_id])
        lines.append(f"{stop} >/dev/null || {{ {undo}; }}")
        rename = sh(["docker", "rename", current_id, prev_name(spec.name, current_id)])
        lines.append(f"{rename} || {{ {undo}; }}")
    lines.append(f'docker rename "$new" {shlex.quote(spec.name)} || {{ {undo}; }}')
    lines.append(f'docker start "$new" >/dev/null || {{ {undo}; }}')
    lines.append('echo "$new"')
    lines.append(addr_line(Raw('"$new"')))
    return "\n".join(lines) + "\n"


def start_next_script(
    spec: ContainerSpec,
    deployed_at: str,
    deployed_by: str,
    *,
    attempt: str,
    guard: Sequence[str] = (),
) -> str:
    """Proxy mode: create and start the new container next to the live one (which keeps its
    name and its traffic), under a temporary name; print its id and address. The host's
    guard removes it if nobody decides in time. One that does not start is removed by id.
    """
    lines = ["set -u", *_create_next_lines(spec, deployed_at, deployed_by, attempt)]
    lines += list(guard)
    lines.append(
        'docker start "$new" >/dev/null || { docker rm -f "$new" >/dev/null 2>&1; exit 1; }'
    )
    lines.append('echo "$new"')
    lines.append(addr_line(Raw('"$new"')))
    return "\n".join(lines) + "\n"


def wait_guard_line(guard_dir: str, seconds: int = 30) -> str:
    """Shell: wait (bounded) until the guard that took the decision has finished acting."""
    g = shlex.quote(guard_dir)
    return f"i=0; while [ -d {g} ] && [ $i -lt {2 * seconds} ]; do sleep 0.5; i=$((i+1)); done"


def restore_script(
    name: str,
    attempt: str | None,
    failed_id: str | None,
    previous_id: str | None,
    *,
    decide: str = "",
    guard_dir: str = "",
    log_lines: int = 20,
) -> str:
    """Keep the failed container's last log lines, remove what this attempt started (by id or
    by its attempt label, never by name), bring the previous version back under its name.

    The controller first takes the decision from the host's guard; if the guard took it
    already, this waits for the guard to finish, then checks (everything here is idempotent).
    If the name is held by a container this attempt did not start, it is left alone and the
    script fails: that container is someone else's.
    """
    lines = []
    if decide:
        wait = wait_guard_line(guard_dir) if guard_dir else "true"
        lines.append(f"{decide} || {{ {wait}; }}")
    if failed_id:
        lines.append(sh(["docker", "logs", "--tail", str(log_lines), failed_id]) + " 2>&1")
        lines.append(sh(["docker", "rm", "-f", failed_id]) + " >/dev/null 2>&1")
    if attempt:
        lines.append(remove_attempt_line(attempt))
    lines.append(f"echo {MARK_CONTAINERS}")
    if previous_id:
        q = shlex.quote(previous_id)
        lines.append(f"cur={name_holder(name)}")
        held = shlex.quote(f"the name {name} is held by")
        lines.append(
            f'if [ -n "$cur" ] && [ "$cur" != {q} ]; then echo {held} "$cur, which this run did '
            'not start: left alone" >&2; exit 1; fi'
        )
        lines.append(
            f'[ "$cur" = {q} ] || ' + sh(["docker", "rename", previous_id, name]) + " || exit 1"
        )
        lines.append(sh(["docker", "start", previous_id]) + " >/dev/null || exit 1")
        lines.append(addr_line(previous_id))
    return "\n".join(lines) + "\n"


def swap_script(
    name: str, live_id: str | None, target_id: str, stop_timeout: int, guard: Sequence[str] = ()
) -> str:
    """Retire the live container (kept, renamed) and give the retained `target` the name back."""
    lines = list(guard)
    if live_id:
        lines.append(
            sh(["docker", "stop", "-t", str(stop_timeout), live_id]) + " >/dev/null || exit 1"
        )
        lines.append(sh(["docker", "rename", live_id, prev_name(name, live_id)]) + " || exit 1")
    lines.append(sh(["docker", "rename", target_id, name]) + " || exit 1")
    lines.append(sh(["docker", "start", target_id]) + " >/dev/null || exit 1")
    lines.append(addr_line(target_id))
    return "\n".join(lines) + "\n"


def start_retained_script(target_id: str, guard: Sequence[str] = ()) -> str:
    """Proxy mode's rollback: start the retained version next to the live one (names stay)."""
    lines = [*guard, sh(["docker", "start", target_id]) + " >/dev/null || exit 1"]
    return "\n".join([*lines, addr_line(target_id)]) + "\n"


def stop_script(container_id: str, stop_timeout: int) -> str:
    return sh(["docker", "stop", "-t", str(stop_timeout), container_id]) + " >/dev/null 2>&1\n"


def unswap_script(name: str, live_id: str, target_id: str, stop_timeout: int) -> str:
    """Undo a rollback swap, whatever step it reached: the retained `target` stops and is
    retained again, `live` gets its name back and runs. Every step checks before it acts."""
    fmt = shlex.quote("{{.Name}}")
    t, lv, n = shlex.quote(target_id), shlex.quote(live_id), shlex.quote("/" + name)
    return (
        "\n".join(
            [
                sh(["docker", "stop", "-t", str(stop_timeout), target_id]) + " >/dev/null 2>&1",
                f'[ "$(docker container inspect --format {fmt} {t})" != {n} ] || '
                + sh(["docker", "rename", target_id, prev_name(name, target_id)])
                + " || exit 1",
                f'[ "$(docker container inspect --format {fmt} {lv})" = {n} ] || '
                + sh(["docker", "rename", live_id, name])
                + " || exit 1",
                sh(["docker", "start", live_id]) + " >/dev/null || exit 1",
                addr_line(live_id),
            ]
        )
        + "\n"
    )


def watch_script(container: str, decide: str = "") -> str:
    """Print the container's exit code if it exits. The controller ends it by closing stdin, or
    first sends `ok` to confirm (then CONFIRMED, or LATE if the host's guard acted already).
    """
    lines = [
        f"docker wait {shlex.quote(container)} & w=$!",
        "read -r line || line=",
        "kill $w 2>/dev/null",
    ]
    if decide:  # confirm only a container that still runs (its address is still its own)
        running = f"[ \"$(docker inspect --format '{{{{.State.Running}}}}' {shlex.quote(container)})\" = true ]"
        lines.append(
            f'if [ "$line" = ok ]; then if ! {running}; then echo STOPPED; '
            f"elif {decide}; then echo CONFIRMED; else echo LATE; fi; fi"
        )
    return "\n".join([*lines, "exit 0"]) + "\n"


def state_gate_script(
    container: str,
    want_health: bool,
    timeout: float,
    interval: float,
    settle: float,
    decide: str = "",
) -> str:
    """Wait on the host for docker's health status (or `settle` seconds of steady running).

    Bounded by the clock, not by a count of steps: it ends by itself after `timeout`.
    """
    fmt = '{{.State.Status}} {{.RestartCount}} {{with index .State "Health"}}{{.Status}}{{end}}'
    c = shlex.quote(container)
    # passing also takes the decision from the host's guard (LATE: the guard acted first)
    ok = f"{{ {decide} || {{ echo LATE; exit 1; }}; }}; " if decide else ""
    if want_health:
        check = f'case "$h" in healthy) {ok}echo HEALTHY; exit 0;; unhealthy) echo UNHEALTHY; exit 1;; esac'
    else:
        check = f"if [ $(date +%s) -ge $settled ]; then {ok}echo RUNNING; exit 0; fi"
    return (
        f"end=$(( $(date +%s) + {max(1, math.ceil(timeout))} )); "
        f"settled=$(( $(date +%s) + {max(1, math.ceil(settle))} )); r0=\n"
        "while :; do\n"
        f"  set -- $(docker inspect --format {shlex.quote(fmt)} {c} 2>/dev/null); s=${{1:-gone}}; r=${{2:-0}}; h=${{3:-}}\n"
        '  [ -z "$r0" ] && r0=$r\n'
        '  if [ "$s" != running ] || [ "$r" != "$r0" ]; then echo "EXITED $s restarts=$r"; exit 1; fi\n'
        f"  {check}\n"
        "  if [ $(date +%s) -ge $end ]; then echo TIMEOUT; exit 1; fi\n"
        f"  sleep {max(0.1, interval)}\ndone\n"
    )


def finalize_script(
    state_dir: str, prune: Sequence[str], audit_lines: Sequence[str], unlock_token: str | None
) -> str:
    """Remove versions past `retain`, append audit records, release our lock: one command.

    The lock is removed only if it holds `unlock_token` (our run's id): never another run's.
    """
    lines = []
    if prune:
        lines.append(sh(["docker", "rm", "-f", *prune]) + " >/dev/null 2>&1 || true")
    if audit_lines:
        lines.append(locking.SHARED_UMASK)  # the log stays the state folder group's
        lines.append(f"mkdir -p {shlex.quote(state_dir)}")
        for record in audit_lines:
            lines.append(
                f"printf '%s\\n' {shlex.quote(record)} >> {shlex.quote(state_dir + '/audit.log')}"
            )
    if unlock_token:
        lock = shlex.quote(state_dir + "/lock")
        lines.append(
            f"if grep -qF {shlex.quote(unlock_token)} {lock}/info 2>/dev/null; "
            f"then rm -rf {lock}; fi"
        )
    return "\n".join(lines or ["true"]) + "\n"


def audit_tail_script(state_dir: str, lines: int) -> str:
    """The host's last `lines` audit records (nothing if there is no log yet)."""
    return sh(["tail", "-n", str(int(lines)), f"{state_dir}/audit.log"]) + " 2>/dev/null || true\n"
