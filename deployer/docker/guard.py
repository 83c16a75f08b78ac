"""The host-side guard of a replace or a rollback swap. Pure builders.

Once a host's live container is about to be stopped, the same remote command starts
a small detached watcher on the host (plain `sh` and `docker`, nothing else). If the
controller has not decided within the deadline (health gate passed, or it restored
the old version itself), the watcher restores the previous container on its own and
appends an audit record. A crashed controller, a lost connection or a killed run
therefore never leaves a host on an unconfirmed version with the old one stopped.

Whoever decides first takes `<guard dir>/decided` with `mkdir` (atomic): the
controller when the gate passes (`confirm`) or when it restores, the guard when its
deadline passes. The loser stands down.
"""

from __future__ import annotations

import json
import math
import shlex

from deployer.docker.labels import LABEL_ATTEMPT
from deployer.docker.shell import sh

MARGIN_SECONDS = 20  # added to the time the controller needs, before the guard acts
DOCKER_SLACK_SECONDS = 10  # docker create/rename/start and the round trips around the gate
POLL_SECONDS = 1


def prev_name(name: str, container_id: str) -> str:
    """The name a retired (retained) version of `name` goes by."""
    return f"{name}_prev_{container_id[:12]}"


def name_holder(name: str) -> str:
    """Shell: the id of the container named exactly `name` ("" if none). Not `docker inspect
    NAME`, which also matches id prefixes, images, networks and volumes."""
    return f"$(docker ps -aq --no-trunc --filter name={shlex.quote('^/' + name + '$')})"


def remove_attempt_line(attempt: str) -> str:
    """Shell: remove every container this attempt created (by its label, never by name)."""
    label = shlex.quote(LABEL_ATTEMPT + "=" + attempt)
    return (
        f"for c in $(docker ps -aq --filter label={label}); "
        'do docker rm -f "$c" >/dev/null 2>&1; done'
    )


def guard_dir(state_dir: str, attempt: str) -> str:
    return f"{state_dir}/guard/{attempt}"


def deadline(stop_timeout: float, gate_timeout: float, settle: float) -> int:
    """Seconds from the guard's start: stop the old, start the new, the whole gate, a margin."""
    return math.ceil(stop_timeout + gate_timeout + settle) + DOCKER_SLACK_SECONDS + MARGIN_SECONDS


def _restore_lines(
    name: str,
    attempt: str,
    previous_id: str | None,
    undo_target: str | None,
    stop_timeout: int,
    stood_down: str,
) -> list[str]:
    """Remove what this attempt started; put `previous_id` back under `name`, running.

    Only while the name is free or held by this attempt's own containers (the new one, the
    previous one, or the swapped-in target): if another run's container holds it, the guard
    touches nothing and says so in the audit log.
    """
    q = shlex.quote
    label = "{{index .Config.Labels " + json.dumps(LABEL_ATTEMPT) + "}}"
    ours = [q(x) for x in (previous_id, undo_target) if x]
    lines = [
        f"cur={name_holder(name)}",
        'if [ -n "$cur" ]'
        + "".join(f' && [ "$cur" != {x} ]' for x in ours)
        + f' && [ "$(docker container inspect --format {q(label)} "$cur")" != {q(attempt)} ]; then',
        f'  {stood_down}; rm -rf "$G"; exit 0',
        "fi",
    ]
    if undo_target:  # a rollback swap: the retained version goes back to being retained
        t = q(undo_target)
        lines.append(
            f'if [ "$cur" = {t} ]; then '
            + sh(["docker", "stop", "-t", str(stop_timeout), undo_target])
            + "; "
            + sh(["docker", "rename", undo_target, prev_name(name, undo_target)])
            + "; fi"
        )
    else:
        lines.append(remove_attempt_line(attempt))
    if previous_id:
        fmt, p, n = q("{{.Name}}"), q(previous_id), q("/" + name)
        lines.append(
            f'[ "$(docker container inspect --format {fmt} {p})" = {n} ] || '
            + sh(["docker", "rename", previous_id, name])
        )
        lines.append(
            f'[ "$(docker container inspect --format {fmt} {p})" = {n} ] && '
            + sh(["docker", "start", previous_id])
        )
    return lines


def _record(audit: dict[str, object], outcome: str, detail: str, state_dir: str) -> str:
    """Shell: append one audit record, its time taken on the host."""
    q = shlex.quote
    record = json.dumps({**audit, "outcome": outcome, "detail": detail}, sort_keys=True)
    return (
        f'printf \'{{"time":"%s",%s\\n\' "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" {q(record[1:])} '
        f">> {q(state_dir + '/audit.log')}"
    )


def start_lines(
    state_dir: str,
    attempt: str,
    name: str,
    previous_id: str | None,
    seconds: int,
    audit: dict[str, object],
    *,
    undo_target: str | None = None,
    stop_timeout: int = 10,
) -> list[str]:
    """Shell lines that start the detached guard. `audit`: the record's fields but `time`.

    The guard's folder holds `deadline` (epoch seconds): a run that takes the lock waits
    for a pending guard (see locking.acquire_lines) instead of racing it.
    """
    q = shlex.quote
    g = guard_dir(state_dir, attempt)
    late = f"the controller did not confirm within {seconds}s"
    stood_down = _record(
        audit,
        "the host's guard stood down",
        f"{late}, but {name} is held by another run's container: left alone",
        state_dir,
    )
    body = "\n".join(
        [
            "trap '' HUP INT PIPE",
            f'G={q(g)}; end=$(cat "$G/deadline")',
            "while [ $(date +%s) -lt $end ]; do",
            '  if [ -d "$G/decided" ]; then rm -rf "$G"; exit 0; fi',
            f"  sleep {POLL_SECONDS}",
            "done",
            ': > "$G/acting"',  # a run taking the lock waits while this is here
            'mkdir "$G/decided" 2>/dev/null || { rm -rf "$G"; exit 0; }',
            *_restore_lines(name, attempt, previous_id, undo_target, stop_timeout, stood_down),
            _record(audit, "restored by the host's guard", late, state_dir),
            'rm -rf "$G"',
        ]
    )
    return [
        "umask 002",  # the guard folder is shared with the state folder's group
        f"mkdir -p {q(g)} || exit 1",
        f"echo $(( $(date +%s) + {int(seconds)} )) > {q(g + '/deadline')} || exit 1",
        "S=; command -v setsid >/dev/null 2>&1 && S=setsid",
        f"$S sh -c {q(body)} </dev/null >/dev/null 2>&1 &",
    ]


def decide_line(state_dir: str, attempt: str) -> str:
    """Take the decision from the guard: exit 0 if ours, 1 if the guard already acted."""
    return f"mkdir {shlex.quote(guard_dir(state_dir, attempt) + '/decided')} 2>/dev/null"


def stand_down_script(state_dir: str, attempt: str) -> str:
    """Take the decision (if still open) so that the guard does nothing: the controller acts."""
    return decide_line(state_dir, attempt) + " || true\n"
