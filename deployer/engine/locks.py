"""Who holds a host's rollout lock, and whether that run is still alive. Never prints.

A lock's holder is alive when its process still runs (checked directly when the
holder is this machine: pid and the process's start time, so a reused pid does not
count) or, for a holder elsewhere, when its heartbeat is fresh (a live run touches
it every HEARTBEAT_SECONDS). `deployer lock release` refuses a live holder unless
forced: releasing it would let a second run remove the first one's containers.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from deployer.docker import locking
from deployer.engine.rollout import process_start
from deployer.model import HostConn
from deployer.remote.ssh import Session


@dataclass(frozen=True)
class Holder:
    state: locking.LockState
    alive: bool
    why: str  # how we know: "process 123 runs here", "heartbeat 4s ago", "no heartbeat for 9m"

    def describe(self) -> str:
        i = self.state.info
        who = i.get("who") or "an unknown run"
        parts = [f"by {who}"]
        if i.get("pid"):
            parts.append(f"pid {i.get('pid')} on {i.get('host') or '?'}")
        if i.get("since"):
            parts.append(f"since {i.get('since')}")
        if i.get("playbook"):
            parts.append(f"playbook {i.get('playbook')}")
        state = "holder alive" if self.alive else "holder DEAD"
        return f"{', '.join(str(p) for p in parts)}: {state} ({self.why})"


def judge(state: locking.LockState, here: str | None = None) -> Holder:
    """Alive or dead, from the lock's info and heartbeat age (reads /proc for local holders).

    A fresh heartbeat always means alive. A holder on this machine whose process (pid and
    start time) still runs is alive; one whose process is gone is dead once it also missed
    two heartbeats (a /proc that hides other users' processes, or two controllers sharing a
    host name, must not kill a live run). Anyone else is dead after STALE_SECONDS.
    """
    here = here or socket.gethostname()
    info = state.info
    pid = info.get("pid")
    age = state.heartbeat_age
    local = info.get("host") == here and isinstance(pid, int) and bool(info.get("pid_start"))
    if local and process_start(int(str(pid))) == info.get("pid_start"):
        return Holder(state, True, f"process {pid} runs on this machine")
    limit = 2 * locking.HEARTBEAT_SECONDS if local else locking.STALE_SECONDS
    if age is not None and age < limit:
        return Holder(state, True, f"heartbeat {age:.0f}s ago")
    gone = f"process {pid} is gone from this machine, " if local else ""
    if age is None:
        return Holder(state, False, f"{gone}no heartbeat and no time on the lock")
    return Holder(state, False, f"{gone}no heartbeat for {_ago(age)}")


def guards_text(state: locking.LockState) -> str:
    """'' or what the pending host guards will do, and when."""
    if not state.guards:
        return ""
    soonest = min(state.guards)
    return (
        f"{len(state.guards)} host guard(s) of an unconfirmed rollout pending: the previous "
        f"version comes back in {soonest:.0f}s unless the run confirms"
    )


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def read(session: Session, conn: HostConn) -> tuple[Holder | None, locking.LockState]:
    """The holder of the host's lock (None when it is free), and the lock's state."""
    state = locking.parse_state(session.run(locking.read_script(conn.state_dir), timeout=60).stdout)
    return (judge(state) if state.held else None), state


def release(session: Session, conn: HostConn, holder: Holder) -> str:
    """Remove that holder's lock (and only it: a newer lock taken meanwhile stays). 'released' etc."""
    token = holder.state.run or None
    res = session.run(locking.release_script(conn.state_dir, token), timeout=60)
    if not res.ok:
        return f"failed: {res.stderr.strip()[-200:]}"
    return res.stdout.strip() or "released"
