"""One container on one host over SSH: replace, health gate, restore, swap. Never prints."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from deployer.docker import commands as cmd
from deployer.docker import guard as hostguard
from deployer.docker.facts import probe_target
from deployer.errors import RemoteError
from deployer.model import ContainerSpec, HealthSpec, Observed
from deployer.remote.ssh import Channel, OutputEnd, Result, Session
from deployer.targets import LATE, Attempt, GateResult, Restored, Started

SETTLE_SECONDS = 3.0  # no health check: running this long without a restart counts as healthy
RESTORE_CHECK_SECONDS = 15.0


def decide(attempt: Attempt) -> str:
    """The shell test that takes the decision from the attempt's host guard."""
    return hostguard.decide_line(attempt.state_dir, attempt.id)


def guard_lines(
    attempt: Attempt, spec: ContainerSpec, previous_id: str | None, undo_target: str | None = None
) -> list[str]:
    seconds = hostguard.deadline(
        spec.stop_timeout, spec.health.timeout, SETTLE_SECONDS if spec.health.kind == "none" else 0
    )
    return hostguard.start_lines(
        attempt.state_dir,
        attempt.id,
        spec.name,
        previous_id,
        seconds,
        attempt.audit,
        undo_target=undo_target,
        stop_timeout=spec.stop_timeout,
    )


def probe_once(session: Session, health: HealthSpec, address: str, port: int) -> tuple[bool, str]:
    try:
        if health.kind == "http":
            status, took = session.probe_http(
                address, port, health.path, timeout=min(5.0, health.timeout)
            )
            ok = status == health.status
            return ok, f"HTTP {status} on {health.path} in {took * 1000:.0f} ms"
        took = session.probe_tcp(address, port, timeout=min(5.0, health.timeout))
        return True, f"TCP {port} open in {took * 1000:.0f} ms"
    except OSError as err:
        return False, f"{'HTTP' if health.kind == 'http' else 'TCP'} {err}"


class Watch(Protocol):
    """The gate's watch over the container: the shell watcher (_ShellWatch below), or its
    events over the Engine API (targets/api_gate.py)."""

    def stopped(self) -> str | None: ...

    @property
    def lost(self) -> str:
        """Why a stop of code ? was taken: the watch lost sight of the container ("": it
        did not, or cannot say)."""
        ...

    def confirm(self, decide: str) -> list[str]: ...

    def close(self) -> None: ...


Watcher = Callable[[str], Watch | None]  # container id -> its watch (None: the shell's)


def gate(
    session: Session,
    spec: ContainerSpec,
    container_id: str,
    decide: str,
    ip: str,
    watcher: Watcher | None = None,
) -> GateResult:
    """Wait until the container is healthy, or say why it is not.

    decide: the shell test that takes the decision from the host's guard; passing the gate
    then also confirms the new version on the host, in the same command. ip: the
    container's own address, as the command that started it printed it ("" if none).
    """
    health = spec.health
    if health.kind in ("docker", "none"):
        script = cmd.state_gate_script(
            container_id,
            health.kind == "docker",
            health.timeout,
            health.interval,
            SETTLE_SECONDS,
            decide,
        )
        res = session.run(script, timeout=health.timeout + 30)
        last = (res.stdout.strip().splitlines() or ["no answer"])[-1]
        if res.ok:
            return GateResult(
                True,
                "docker health: healthy"
                if health.kind == "docker"
                else f"running {SETTLE_SECONDS:.0f}s without restarts",
            )
        return GateResult(
            False,
            {
                "UNHEALTHY": "docker health: unhealthy",
                "LATE": LATE,
                "TIMEOUT": f"not healthy after {health.timeout:.0f}s",
            }.get(last, last.lower().replace("exited ", "container exited: ")),
        )
    return _probe_gate(session, spec, container_id, decide, ip, watcher)


class _ShellWatch:
    """The shell watcher (docker/commands.py `watch_script`): `docker wait` on the host,
    which prints the exit code if the container stops; told `ok`, it takes the decision
    from the host's guard itself."""

    def __init__(self, session: Session, container_id: str, decide: str):
        self.session = session
        self.chan: Channel = session.start(
            cmd.watch_script(container_id, decide), keep_stdin_open=True
        )
        self.end = OutputEnd()

    def stopped(self) -> str | None:
        """docker wait's exit code; ? when the watcher ended without one (its output read
        to its end first: sshd can send the exit status before the last of it)."""
        if self.chan.recv_ready():
            return self.chan.recv(1024).decode(errors="replace").strip() or "?"
        return "?" if self.end.reached(self.chan) else None

    @property
    def lost(self) -> str:
        return ""

    def confirm(self, decide: str) -> list[str]:
        """Tell the watcher the gate passed; it takes the decision (its script holds the
        `decide` test already)."""
        self.chan.sendall(b"ok\n")
        self.chan.shutdown_write()
        out, _, _ = self.session.collect(self.chan, 30, time.monotonic())
        return out.split()

    def close(self) -> None:
        try:
            self.chan.shutdown_write()
            self.chan.close()
        except Exception:  # noqa: BLE001 - best effort, the remote side ends on EOF
            pass


def _confirmed(words: list[str], detail: str) -> GateResult:
    """What the watcher's words say of a passed gate."""
    # docker wait's exit code (or the API watch's ?: a stop seen otherwise than by its
    # event): it stopped meanwhile
    stopped = [w for w in words if w.isdigit() or w == "?"]
    if "CONFIRMED" in words and not stopped:
        return GateResult(True, detail)
    if "CONFIRMED" in words:  # it stopped and started again: the probe may have hit another one
        return GateResult(False, f"container stopped (code {stopped[0]}) during the health gate")
    if "LATE" in words:
        return GateResult(False, LATE)
    if "STOPPED" in words:
        return GateResult(False, "container stopped during the health gate")
    return GateResult(
        False, f"container exited (code {words[0] if words else '?'}) before turning healthy"
    )


def _probe_gate(
    session: Session,
    spec: ContainerSpec,
    container_id: str,
    decide: str,
    ip: str,
    watcher: Watcher | None = None,
) -> GateResult:
    """Probe until healthy, watching the container meanwhile: over the Engine API where
    `watcher` gives a watch (targets/api_gate.py), else by the shell watcher."""
    health = spec.health
    address, port = probe_target(spec, None, ip)
    watch = watcher(container_id) if watcher is not None else None
    if watch is None:
        watch = _ShellWatch(session, container_id, decide)
    deadline = time.monotonic() + health.timeout
    try:
        while True:
            code = watch.stopped()
            if code is not None and watch.lost:
                return GateResult(False, f"taken as stopped before turning healthy: {watch.lost}")
            if code is not None:
                return GateResult(False, f"container exited (code {code}) before turning healthy")
            ok, detail = probe_once(session, health, address, port)
            if ok:
                if not decide:
                    return GateResult(True, detail)
                return _confirmed(watch.confirm(decide), detail)
            if time.monotonic() + health.interval > deadline:
                return GateResult(False, f"not healthy after {health.timeout:.0f}s: {detail}")
            time.sleep(health.interval)
    finally:
        watch.close()


def restore(
    session: Session,
    spec: ContainerSpec,
    attempt: Attempt,
    failed_id: str | None,
    previous: Observed | None,
    before: Sequence[str] = (),
    back: str = "rolled back to",
    timeout: float = 300.0,
) -> Restored:
    """Remove what the attempt started, bring back the previous one. (its last logs, what happened)

    before: shell lines run first in the same command (proxy mode: the route goes back).
    back: how the report says the previous version is back ("kept serving": it never stopped).
    """
    res = session.run(
        "\n".join(before)
        + ("\n" if before else "")
        + cmd.restore_script(
            spec.name,
            attempt.id,
            failed_id,
            previous.id if previous else None,
            decide=decide(attempt),
            guard_dir=hostguard.guard_dir(attempt.state_dir, attempt.id),
        ),
        timeout=timeout,
    )
    logs = res.stdout.split(cmd.MARK_CONTAINERS)[0].strip().splitlines()[-20:] if failed_id else []
    if previous is None:
        return Restored(logs, "removed the failed container (nothing ran before)")
    if not res.ok:
        return Restored(
            logs, f"ROLLBACK FAILED: could not restart the previous container: {res.stderr.strip()}"
        )
    if spec.health.kind in ("http", "tcp"):
        address, port = probe_target(spec, previous.ports, cmd.parse_addr(res.stdout))
        deadline = time.monotonic() + RESTORE_CHECK_SECONDS
        while True:
            ok, detail = probe_once(session, spec.health, address, port)
            if ok:
                return Restored(logs, f"{back} {previous.image}; it answers ({detail})")
            if time.monotonic() > deadline:
                return Restored(logs, f"{back} {previous.image}, but it does not answer: {detail}")
            time.sleep(0.5)
    return Restored(logs, f"{back} {previous.image}")


def replace(
    session: Session,
    spec: ContainerSpec,
    current_c: Observed | None,
    deployed_at: str,
    deployed_by: str,
    attempt: Attempt,
) -> Started:
    """Start the new version, guarded on the host."""
    current = current_c.id if current_c else None
    script = cmd.replace_script(
        spec,
        current,
        deployed_at,
        deployed_by,
        attempt=attempt.id,
        guard=guard_lines(attempt, spec, current),
    )
    res = session.run(script, stdin=cmd.secrets_stdin(spec), timeout=spec.stop_timeout + 120)
    return started(session, res)


def started(session: Session, res: Result) -> Started:
    """What a script that starts a container printed: its id and address, or its error."""
    if res.ok:
        lines = [ln for ln in res.stdout.strip().splitlines() if not ln.startswith(cmd.MARK_ADDR)]
        if lines:
            return Started(lines[-1].strip(), cmd.parse_addr(res.stdout))
        raise RemoteError(f"{session.conn.name}: docker run printed no container id")
    return Started(
        None, "", (res.stderr.strip() or res.stdout.strip() or f"exit {res.exited}")[-800:]
    )


def swap(
    session: Session, spec: ContainerSpec, live: Observed | None, target: Observed, attempt: Attempt
) -> GateResult:
    """Rollback: bring the retained `target` back under the name, through the same health gate,
    guarded on the host like a replace.
    """
    guard = guard_lines(attempt, spec, live.id if live else None, undo_target=target.id)
    res = session.run(
        cmd.swap_script(spec.name, live.id if live else None, target.id, spec.stop_timeout, guard)
    )
    result = (
        gate(session, spec, target.id, decide(attempt), cmd.parse_addr(res.stdout))
        if res.ok
        else GateResult(False, res.stderr.strip()[-400:])
    )
    if result.ok or result.detail == LATE:
        return result
    return unswap(session, spec, live, target, attempt, result.detail)


def unswap(
    session: Session,
    spec: ContainerSpec,
    live: Observed | None,
    target: Observed,
    attempt: Attempt,
    why: str,
) -> GateResult:
    """A rollback swap failed: take the decision from the host guard (if it acted already,
    it restored), then put the live container back, whatever step the swap reached."""
    if session.run(hostguard.decide_line(attempt.state_dir, attempt.id) + "\n").exited != 0:
        return GateResult(False, f"{why}; {LATE}")
    if live is None:
        return GateResult(False, why)
    back = session.run(cmd.unswap_script(spec.name, live.id, target.id, spec.stop_timeout))
    again = "restored " + live.image if back.ok else "COULD NOT RESTORE " + live.image
    return GateResult(False, f"{why}; {again}")
