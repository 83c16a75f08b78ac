"""The rollout lock on a host, as shell: take (wait-die), heartbeat, read, release. Pure builders.

The lock is a directory, `<state_dir>/lock`, made with `mkdir` (atomic). Inside:
`info` (one JSON line: who, pid, run id, ...), `prio` (the run's priority: the time
it started, then its id; smaller is older) and `heartbeat` (touched by the live run).

Two runs that want the same hosts never split them for good and never wait on each
other in a circle (wait-die): a run that finds a host held by an *older* run gives
up that host at once (the controller then releases every lock it holds, and retries
only if `--lock-wait` allows); a run that finds a host held by a *younger* run waits
for it, since the younger one gives its locks back. Only the older waits while
holding, so there is no circle.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass

EXIT_LOCKED = 75
YIELD_SECONDS = 10  # how long an older run waits on a host held by a younger one
HEARTBEAT_SECONDS = 10  # how often a live run touches its locks' heartbeat
STALE_SECONDS = 45  # no heartbeat for this long: the holder is taken for dead
MARK_STATE = "--deployer-lock-state--"
MARK_GUARD = "--deployer-guard--"


# What a run makes in the state folder stays writable by the folder's group: root (or
# become) and the docker group's users share one folder (install -d -g docker -m 2775).
SHARED_UMASK = "umask 002"


def lock_path(state_dir: str) -> str:
    return f"{state_dir}/lock"


def priority(started_ns: int, run_id: str) -> str:
    """Fixed width, so that comparing the text compares the start times (then the ids)."""
    return f"{started_ns:020d}.{run_id}"


def acquire_lines(state_dir: str, info: str, prio: str, wait: float) -> list[str]:
    """Take the lock, or exit EXIT_LOCKED printing the holder's info.

    Held by an older run: give up at once. Held by a younger run (or one whose
    priority is not written yet): wait for it, up to max(wait, YIELD_SECONDS). A lock
    without a priority for a second (an older deployer's, or made by hand) counts as older.
    """
    q = shlex.quote
    lock = q(lock_path(state_dir))
    bound = max(YIELD_SECONDS, math.ceil(wait))
    return [
        SHARED_UMASK,
        f"mkdir -p {q(state_dir)} || exit 1",
        f"L={lock}; P={q(prio)}; end=$(( $(date +%s) + {bound} )); n=0",
        'until mkdir "$L" 2>/dev/null; do',
        '  h=$(cat "$L/prio" 2>/dev/null)',
        # no priority after ~1 s: not a run being born but an older deployer's or a hand-made
        # lock; taken as older
        '  if [ -z "$h" ]; then n=$((n+1)); [ $n -ge 5 ] && h=0; fi',
        '  if [ "$h" = "$P" ]; then break; fi',  # our own run's lock (left by a lost release)
        '  if [ -n "$h" ] && expr "x$h" "<" "x$P" >/dev/null; then cat "$L/info" 2>/dev/null; '
        f"exit {EXIT_LOCKED}; fi",
        f'  if [ $(date +%s) -ge $end ]; then cat "$L/info" 2>/dev/null; exit {EXIT_LOCKED}; fi',
        "  sleep 0.2",
        "done",
        f'printf \'%s\\n\' "$P" > "$L/prio"; printf \'%s\\n\' {q(info)} > "$L/info"; : > "$L/heartbeat"',
        *wait_for_guards(state_dir),
    ]


def wait_for_guards(state_dir: str) -> list[str]:
    """Shell, run holding the lock: wait while a host guard (docker/guard.py) is pending or
    acting, so that no run acts on the containers of a run the guard may still restore.
    Bounded by each guard's deadline plus 30 s; past that its folder is stale and goes.
    """
    return [
        f"for g in {shlex.quote(state_dir)}/guard/*; do",
        '  [ -d "$g" ] || continue; dl=$(cat "$g/deadline" 2>/dev/null); dl=${dl:-0}',
        '  while [ -d "$g" ] && { [ ! -d "$g/decided" ] || [ -e "$g/acting" ]; } '
        "&& [ $(date +%s) -le $((dl + 30)) ]; do sleep 0.5; done",
        '  if [ -d "$g" ] && { [ ! -d "$g/decided" ] || [ -e "$g/acting" ]; }; then rm -rf "$g"; fi',
        "done",
    ]


def heartbeat_script(state_dir: str, token: str) -> str:
    """Touch the heartbeat of our own lock (never another run's); exit 1 if it is not ours.

    `touch -c`: never create it. A release (`rm -rf`) running at the same moment may have
    removed the file already; a heartbeat that made it again kept `rmdir` from removing the
    lock, and left a lock without info or priority that no run could take (seen on 3 of
    1,000 light-lab hosts)."""
    lock = shlex.quote(lock_path(state_dir))
    return f"grep -qF {shlex.quote(token)} {lock}/info 2>/dev/null && touch -c {lock}/heartbeat\n"


def read_script(state_dir: str) -> str:
    """Print the lock's info, then a state line: MARK <host clock> <heartbeat mtime> (or `free`),
    then one MARK_GUARD line per host guard still pending: its deadline (epoch seconds)."""
    lock = shlex.quote(lock_path(state_dir))
    return (
        f"if [ -d {lock} ]; then cat {lock}/info 2>/dev/null; echo; "
        f"hb=$(stat -c %Y {lock}/heartbeat 2>/dev/null || stat -c %Y {lock}/info 2>/dev/null "
        f"|| stat -c %Y {lock} 2>/dev/null); echo {MARK_STATE} $(date +%s) ${{hb:-0}}; "
        f"else echo {MARK_STATE} free $(date +%s); fi\n"
        f'for g in {shlex.quote(state_dir)}/guard/*; do [ -d "$g" ] && [ ! -d "$g/decided" ] '
        f'&& echo {MARK_GUARD} $(cat "$g/deadline" 2>/dev/null || echo 0); done; true\n'
    )


def release_script(state_dir: str, token: str | None) -> str:
    """Remove the lock; with a token, only if it is still the lock that holds it (not a newer one)."""
    lock = shlex.quote(lock_path(state_dir))
    if token is None:
        return f"rm -rf {lock}\n"
    return (
        f"if [ ! -d {lock} ]; then echo free; elif grep -qF {shlex.quote(token)} {lock}/info 2>/dev/null; "
        f"then rm -rf {lock} && echo released; else echo changed; fi\n"
    )


@dataclass(frozen=True)
class LockState:
    """What `read_script` printed, parsed. Pure."""

    held: bool
    info: dict[str, object]
    raw: str  # the info line as it was (for messages and for releasing by token)
    heartbeat_age: float | None  # seconds since the holder last showed life, by the host's clock
    guards: tuple[
        float, ...
    ] = ()  # seconds until each pending host guard acts (by the host's clock)

    @property
    def run(self) -> str:
        return str(self.info.get("run") or "")


def parse_state(stdout: str) -> LockState:
    raw, state = "", ""
    deadlines: list[int] = []
    for line in stdout.splitlines():
        if line.startswith(MARK_STATE):
            state = line[len(MARK_STATE) :].strip()
        elif line.startswith(MARK_GUARD):
            word = line[len(MARK_GUARD) :].strip()
            deadlines.append(int(word) if word.isdigit() else 0)
        elif line.strip() and not raw:
            raw = line.strip()
    words = state.split()
    clock = int(words[-1]) if words and words[-1].isdigit() else 0
    guards = tuple(float(max(0, d - clock)) for d in deadlines)
    if not state or state.startswith("free"):
        return LockState(False, {}, "", None, guards)
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    parts = state.split()
    age = None
    if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[1]) > 0:
        age = max(0.0, float(int(parts[0]) - int(parts[1])))
        clock = int(parts[0])
        guards = tuple(float(max(0, d - clock)) for d in deadlines)
    return LockState(True, info, raw, age, guards)
