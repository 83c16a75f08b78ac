"""One container on one host: replace, health gate, restore. Never prints."""

from __future__ import annotations

import time
from dataclasses import dataclass

from deployer.docker import commands as cmd
from deployer.errors import RemoteError
from deployer.model import ContainerSpec, HealthSpec
from deployer.plan import Action, Observed, probe_target
from deployer.remote.ssh import Session

SETTLE_SECONDS = 3.0  # no health check: running this long without a restart counts as healthy
RESTORE_CHECK_SECONDS = 15.0



@dataclass
class GateResult:
    ok: bool
    detail: str


def probe_once(session: Session, health: HealthSpec, address: str, port: int) -> tuple[bool, str]:
    try:
        if health.kind == "http":
            status, took = session.probe_http(address, port, health.path, timeout=min(5.0, health.timeout))
            ok = status == health.status
            return ok, f"HTTP {status} on {health.path} in {took * 1000:.0f} ms"
        took = session.probe_tcp(address, port, timeout=min(5.0, health.timeout))
        return True, f"TCP {port} open in {took * 1000:.0f} ms"
    except OSError as err:
        return False, f"{'HTTP' if health.kind == 'http' else 'TCP'} {err}"


def gate(session: Session, spec: ContainerSpec, container_id: str) -> GateResult:
    """Wait until the container is healthy, or say why it is not."""
    health = spec.health
    if health.kind in ("docker", "none"):
        script = cmd.state_gate_script(container_id, health.kind == "docker", health.timeout,
                                       health.interval, SETTLE_SECONDS)
        res = session.run(script, timeout=health.timeout + 30)
        last = (res.stdout.strip().splitlines() or ["no answer"])[-1]
        if res.ok:
            return GateResult(True, "docker health: healthy" if health.kind == "docker" else
                              f"running {SETTLE_SECONDS:.0f}s without restarts")
        return GateResult(False, {"UNHEALTHY": "docker health: unhealthy",
                                  "TIMEOUT": f"not healthy after {health.timeout:.0f}s"}.get(
                                      last, last.lower().replace("exited ", "container exited: ")))
    return _probe_gate(session, spec, container_id)


def _probe_gate(session: Session, spec: ContainerSpec, container_id: str) -> GateResult:
    health = spec.health
    ip = ""
    if not any(p.container_port == health.port and p.host_port for p in spec.ports):
        res = session.run(f"docker inspect --format '{{{{.NetworkSettings.IPAddress}}}}' {container_id}")
        ip = res.stdout.strip()
    address, port = probe_target(spec, None, ip)
    watcher = session.start(cmd.watch_script(container_id), keep_stdin_open=True)
    deadline = time.monotonic() + health.timeout
    detail = "no probe ran"
    try:
        while True:
            if watcher.recv_ready() or watcher.exit_status_ready():
                code = watcher.recv(1024).decode(errors="replace").strip() if watcher.recv_ready() else "?"
                return GateResult(False, f"container exited (code {code or '?'}) before turning healthy")
            ok, detail = probe_once(session, health, address, port)
            if ok:
                return GateResult(True, detail)
            if time.monotonic() + health.interval > deadline:
                return GateResult(False, f"not healthy after {health.timeout:.0f}s: {detail}")
            time.sleep(health.interval)
    finally:
        try:
            watcher.shutdown_write()
            watcher.close()
        except Exception:  # noqa: BLE001 - best effort, the remote side ends on EOF
            pass


def restore(session: Session, spec: ContainerSpec, failed_id: str | None,
            previous: Observed | None) -> tuple[list[str], str]:
    """Remove the failed container, bring back the previous one. (its last logs, what happened)"""
    res = session.run(cmd.restore_script(spec.name, failed_id, previous.id if previous else None))
    logs = res.stdout.split(cmd.MARK_CONTAINERS)[0].strip().splitlines()[-20:] if failed_id else []
    if previous is None:
        return logs, "removed the failed container (nothing ran before)"
    if not res.ok:
        return logs, f"ROLLBACK FAILED: could not restart the previous container: {res.stderr.strip()}"
    if spec.health.kind in ("http", "tcp"):
        address, port = probe_target(spec, previous.ports, previous.ip)
        deadline = time.monotonic() + RESTORE_CHECK_SECONDS
        while True:
            ok, detail = probe_once(session, spec.health, address, port)
            if ok:
                return logs, f"rolled back to {previous.image}; it answers ({detail})"
            if time.monotonic() > deadline:
                return logs, f"rolled back to {previous.image}, but it does not answer: {detail}"
            time.sleep(0.5)
    return logs, f"rolled back to {previous.image}"


def replace(session: Session, action: Action, deployed_at: str, deployed_by: str) -> tuple[str | None, str]:
    """Start the new version. (new container id or None, error text)"""
    spec = action.spec
    current = action.current.id if action.current else None
    res = session.run(cmd.replace_script(spec, current, deployed_at, deployed_by),
                      stdin=cmd.secrets_stdin(spec), timeout=spec.stop_timeout + 120)
    if res.ok:
        lines = res.stdout.strip().splitlines()
        if lines:
            return lines[-1].strip(), ""
        raise RemoteError(f"{session.conn.name}: docker run printed no container id")
    return None, (res.stderr.strip() or res.stdout.strip() or f"exit {res.exited}")[-800:]


def swap(session: Session, spec: ContainerSpec, live: Observed | None, target: Observed) -> GateResult:
    """Rollback: bring the retained `target` back under the name, through the same health gate."""
    res = session.run(cmd.swap_script(spec.name, live.id if live else None, target.id, spec.stop_timeout))
    result = gate(session, spec, target.id) if res.ok else GateResult(False, res.stderr.strip()[-400:])
    if result.ok or live is None:
        return result
    back = session.run(cmd.swap_script(spec.name, target.id, live.id, spec.stop_timeout))
    again = "restored " + live.image if back.ok else "COULD NOT RESTORE " + live.image
    return GateResult(False, f"{result.detail}; {again}")
