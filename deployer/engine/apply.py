"""One host's changes, container by container: replace through the health gate, restore the
old version when it fails, rollback swaps, restart/stop/start, removals, and the audit
records of each. The rollout (engine/rollout.py) decides what and when; this does it.
Never prints, never exits."""

from __future__ import annotations

import datetime
import getpass
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deployer.engine import removal
from deployer.engine.outcomes import ContainerOutcome, HostOutcome
from deployer.errors import DeployerError
from deployer.model import HostConn, spec_marks
from deployer.plan import OPERATIONS, Action, Facts, to_prune
from deployer.targets import Attempt, Engine, GateResult, Started

Event = Callable[[str, str], None]  # (host, message)


def who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (with the pid: one process, never reused)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass
class HostRun:
    """Per-host state across the phases of one play."""

    conn: HostConn
    outcome: HostOutcome
    engine: Engine | None = None
    facts: Facts | None = None
    actions: list[Action] = field(default_factory=list)
    locked: bool = False
    lock_held: bool = False  # another run holds this host's lock
    preparing: bool = False  # its lock + pull + facts command is in flight
    finalized: bool = False
    prune: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)


class Applier:
    """Applies actions on hosts for one run (shared by its host threads)."""

    def __init__(self, playbook_path: str, run_id: str, on_event: Event) -> None:
        self.playbook_path = playbook_path
        self.run_id = run_id
        self.on_event = on_event
        self._attempts = itertools.count(1)

    def apply_one(self, run: HostRun, action: Action, outcome: ContainerOutcome) -> None:
        assert run.engine is not None and run.facts is not None
        engine, spec, host = run.engine, action.spec, run.conn.name
        t0 = time.monotonic()
        if action.kind == "remove":
            self.on_event(host, f"{spec.name}: remove ({len(action.remove)} containers)")
            failed, record = removal.remove(
                engine, action, outcome, self.what(run, spec.name, action, outcome)
            )
            run.audit += [record] if record else []
            if failed:
                run.outcome.fail(f"{spec.name}: {failed}")
            return
        attempt = self.attempt(run, action, outcome)
        if action.kind in OPERATIONS:
            self.operate(run, action, outcome)
            return
        if action.target is not None:
            self.on_event(host, f"{spec.name}: rollback -> {action.target.image}")
            try:
                result = engine.swap(spec, action.current, action.target, attempt)
            except Exception as err:  # noqa: BLE001 - the host's guard undoes it if nobody confirms
                result = GateResult(
                    False,
                    f"rollback interrupted: {_text(err)}; the host's guard undoes it "
                    f"unless confirmed; check {spec.name}",
                )
            outcome.health, outcome.health_detail = (
                ("passed" if result.ok else "failed"),
                result.detail,
            )
            if not result.ok:
                outcome.error = result.detail
                run.outcome.fail(f"{spec.name}: rollback failed: {result.detail}")
            else:
                run.prune += to_prune(
                    spec,
                    run.facts,
                    keep_extra=action.current.id if action.current else None,
                    exclude=action.target.id,
                )
            self.audit(run, spec.name, action, outcome)
            return
        self.on_event(host, f"{spec.name}: {action.kind} -> {spec.image}")
        try:
            started = engine.replace(spec, action.current, now_iso(), who(), attempt)
        except Exception as err:  # noqa: BLE001 - it may or may not have started: restore copes
            started = Started(None, "", _text(err))
        new_id = started.id
        if new_id is None:
            outcome.health, outcome.error = "failed", f"could not start: {started.error}"
            self.restore(
                run,
                action,
                outcome,
                attempt,
                None,
                f"could not start: {_first_line(started.error)}",
            )
        else:
            self.on_event(host, f"{spec.name}: started {new_id[:12]}, waiting for health")
            try:
                result = engine.gate(spec, started, attempt)
            except Exception as err:  # noqa: BLE001 - whatever broke, the old version comes back
                result = GateResult(False, f"health gate failed: {_text(err)}")
            outcome.health_detail = result.detail
            if result.ok:
                outcome.health = "passed"
                run.prune += to_prune(
                    spec, run.facts, keep_extra=action.current.id if action.current else None
                )
                self.on_event(host, f"{spec.name}: healthy ({result.detail})")
            else:
                outcome.health = "failed"
                self.restore(run, action, outcome, attempt, new_id, result.detail)
        outcome.took = time.monotonic() - t0
        self.audit(run, spec.name, action, outcome)

    def operate(self, run: HostRun, action: Action, outcome: ContainerOutcome) -> None:
        """restart / stop / start one live container; restart and start pass its health gate."""
        assert run.engine is not None and action.current is not None
        spec, t0 = action.spec, time.monotonic()
        self.on_event(run.conn.name, f"{spec.name}: {action.kind}")
        try:
            result = run.engine.operate(action.kind, spec, action.current)
        except Exception as err:  # noqa: BLE001 - said plainly, the host fails
            result = GateResult(False, f"{action.kind} failed: {_text(err)}")
        outcome.health = "passed" if result.ok else "failed"
        outcome.health_detail = result.detail
        if not result.ok:
            outcome.error = result.detail
            run.outcome.fail(f"{spec.name}: {result.detail}")
        outcome.took = time.monotonic() - t0
        self.audit(run, spec.name, action, outcome)

    def attempt(self, run: HostRun, action: Action, outcome: ContainerOutcome) -> Attempt:
        """A fresh attempt id, and the audit record the host's guard writes should it act."""
        n = next(self._attempts)  # atomic: one counter for every host thread of the run
        audit = {**self.what(run, action.spec.name, action, outcome), "run": self.run_id}
        return Attempt(f"{self.run_id[:12]}-{n}", run.conn.state_dir, audit)

    def what(
        self, run: HostRun, name: str, action: Action, outcome: ContainerOutcome
    ) -> dict[str, object]:
        """An audit record's fields about the change (the run's and the guard's records)."""
        return {
            "who": who(),
            "playbook": self.playbook_path,
            "host": run.conn.name,
            "container": name,
            "action": action.kind,
            "old_image": outcome.old_image,
            "old_image_id": outcome.old_image_id,
            "old_digest": outcome.old_digest,
            "new_image": outcome.new_image,
            "new_image_id": outcome.new_image_id,
            "new_digest": outcome.new_digest,
            **spec_marks(action.spec),
        }

    def restore(
        self,
        run: HostRun,
        action: Action,
        outcome: ContainerOutcome,
        attempt: Attempt,
        failed_id: str | None,
        why: str,
    ) -> None:
        """Put the previous version back after a failed replace; say plainly if that failed too."""
        assert run.engine is not None
        spec = action.spec
        try:
            restored = run.engine.restore(spec, attempt, failed_id, action.current)
            logs, what = restored.logs, restored.what
            outcome.logs, outcome.rolled_back = logs, action.current is not None
        except Exception as err:  # noqa: BLE001 - said plainly; the host's guard still acts
            what = (
                f"ROLLBACK NOT DONE ({_text(err)}); the host's guard restores it unless "
                f"confirmed; check {spec.name} on this host"
            )
        outcome.error = f"{why}; {what}"
        run.outcome.fail(f"{spec.name}: {why}; {what}")
        self.on_event(run.conn.name, f"{spec.name}: UNHEALTHY: {why}; {what}")

    def audit(self, run: HostRun, name: str, action: Action, outcome: ContainerOutcome) -> None:
        run.audit.append(
            json.dumps(
                {
                    "time": now_iso(),
                    **self.what(run, name, action, outcome),
                    "outcome": "ok"
                    if outcome.health == "passed"
                    else "rolled back"
                    if outcome.rolled_back
                    else "failed",
                    "detail": outcome.error or outcome.health_detail,
                },
                sort_keys=True,
            )
        )


def _text(err: BaseException) -> str:
    return str(err) if isinstance(err, DeployerError) else f"internal error: {err!r}"


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "no error text"
