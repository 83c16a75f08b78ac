"""The rollout: plays in order, hosts in serial batches, bounded parallelism, locks,
health gate, rollback, audit, cancellation. Returns outcomes; never prints, never exits.
"""

from __future__ import annotations

import functools
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from deployer import parallel
from deployer.docker import locking
from deployer.engine import removal
from deployer.engine.apply import Applier, Event, HostRun, now_iso, process_start, who
from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.errors import DeployerError, HostKeyError, RemoteError, Unreachable
from deployer.model import HostConn, Play, Playbook
from deployer.plan import (
    OPERATIONS,
    Action,
    Facts,
    Kind,
    image_key,
    plan_operation,
    plan_rollback,
)
from deployer.plan.lifecycle import declared, plan_deploy
from deployer.targets import Engine, LockRequest


@dataclass
class Options:
    check: bool = False
    diff: bool = False
    force: bool = False
    forks: int = 20
    lock_wait: float = 0.0
    rollback: bool = False  # bring back retained versions instead of deploying
    to: str | None = None  # rollback: the version (tag, image or container id) to bring back
    operation: Kind | None = None  # restart / stop / start the live containers instead
    container: str | None = None  # operation: only this container
    prune_undeclared: bool = False  # remove managed containers no play declares for the host
    confirm: removal.Confirm | None = None  # asked before such removals; None: go ahead (--yes)
    accept_new_host_keys: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    on_event: Event = lambda host, msg: None  # noqa: E731


def batches(hosts: list[str], serial: tuple[int | str, ...]) -> list[list[str]]:
    """Ansible's serial: sizes or percentages; the last size repeats until hosts run out."""
    if not serial:
        return [hosts] if hosts else []
    out, i, step = [], 0, 0
    while i < len(hosts):
        spec = serial[min(step, len(serial) - 1)]
        if isinstance(spec, str) and spec.endswith("%"):
            size = int(len(hosts) * float(spec[:-1]) / 100)
        else:
            size = int(spec)
        size = max(1, size)
        out.append(hosts[i : i + size])
        i += size
        step += 1
    return out


class Rollout:
    def __init__(self, playbook: Playbook, options: Options, connect: Callable[[HostConn], Engine]):
        """connect: makes the engine of a host (called once per host, on first use)."""
        self.playbook = playbook
        self.opts = options
        self.connect = connect
        self.engines: dict[str, Engine] = {}
        self.run_id = uuid.uuid4().hex  # written into every lock we take; we release only ours
        self.report = RunReport(
            playbook=playbook.path, check=options.check, started_at=now_iso(), run=self.run_id
        )
        # wait-die between runs: the older run (by start time) keeps the hosts both want
        self.prio = locking.priority(time.time_ns(), self.run_id)
        self._lock = threading.Lock()
        self._holding: dict[int, HostRun] = {}  # runs whose host lock we hold: heartbeats
        self._yielding = threading.Event()  # this play's lock attempt met an older run
        self.declared = declared(playbook)  # host -> the names any play declares there
        # events through self.opts at call time: the CLI sets on_event after construction
        self.applier = Applier(playbook.path, self.run_id, lambda h, m: self.opts.on_event(h, m))

    # -- helpers --------------------------------------------------------------------------
    def engine(self, conn: HostConn) -> Engine:
        with self._lock:
            if conn.name not in self.engines:
                self.engines[conn.name] = self.connect(conn)
            return self.engines[conn.name]

    def _parallel(self, runs: Iterable[HostRun], fn: Callable[[HostRun], None]) -> None:
        parallel.each(runs, lambda r: self._guard(r, fn), self.opts.forks)

    def _guard(self, run: HostRun, fn: Callable[[HostRun], None]) -> None:
        """One host's failure never stops the others, whatever it is."""
        try:
            fn(run)
        except (Unreachable, HostKeyError) as err:  # a refused host key: not reached, exit 4
            run.outcome.status, run.outcome.reason = "unreachable", str(err)
            self.opts.on_event(run.conn.name, f"UNREACHABLE {err}")
        except Exception as err:  # noqa: BLE001 - a bug on one host must not leak the others' locks
            text = str(err) if isinstance(err, DeployerError) else f"internal error: {err!r}"
            if run.outcome.status != "failed" or not run.outcome.reason:
                run.outcome.fail(text)
            self.opts.on_event(run.conn.name, f"FAILED {text}")

    # -- the run --------------------------------------------------------------------------
    def run(self) -> RunReport:
        started = time.monotonic()
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeats, args=(stop,), daemon=True, name="lock-heartbeat"
        )
        beat.start()
        try:
            for play in self.playbook.plays:
                if self.opts.cancel.is_set() or self.report.locked or self.report.declined:
                    break
                self._play(play)
        finally:
            stop.set()
            self.report.took = time.monotonic() - started
            self.report.interrupted = self.opts.cancel.is_set()
            for outcome in self.report.hosts:
                e = self.engines.get(outcome.name)
                if e is not None:
                    outcome.commands, outcome.connections = e.commands, e.connections
                    outcome.channels, outcome.engine = e.channels, e.engine_path
        return self.report

    def _heartbeats(self, stop: threading.Event) -> None:
        """Show that this run is alive on every host whose lock it holds (see `lock status`)."""
        while not stop.wait(locking.HEARTBEAT_SECONDS):
            with self._lock:
                engines = [r.engine for r in self._holding.values() if r.engine is not None]
            # all at once: one slow or dead host must not age the others' locks
            # (errors come back as results: a missed beat only ages that host's lock)
            parallel.each(engines, lambda e: e.heartbeat(self.run_id), self.opts.forks, stop)

    def _hold(self, run: HostRun, held: bool) -> None:
        with self._lock:
            if held:
                self._holding[id(run)] = run
            else:
                self._holding.pop(id(run), None)

    def _acquire(self, play: Play, runs: list[HostRun], info: str) -> bool:
        """Lock, pull and read every host; True once every host is ours (wait-die, see locking)."""
        deadline = time.monotonic() + self.opts.lock_wait
        while True:
            left = max(0.0, deadline - time.monotonic())
            self._yielding.clear()
            siblings = list(runs)
            self._parallel(
                runs,
                functools.partial(
                    self._prepare, play, lock_info=info, lock_wait=left, siblings=siblings
                ),
            )
            held = [r for r in runs if r.lock_held]
            if not held:
                return True
            # Never wait while holding: give back every lock of this play, then maybe retry.
            self._parallel([r for r in runs if r.locked], self._release)
            if self.opts.check or self.opts.cancel.is_set() or time.monotonic() >= deadline:
                self.report.locked = True
                who_ = "; ".join(f"{r.conn.name}: {r.outcome.reason}" for r in held)
                for r in runs:
                    if r.outcome.status in ("ok", "changed"):
                        r.outcome.status, r.outcome.reason = "skipped", f"not started: {who_}"
                return False
            for r in held:
                self.opts.on_event(r.conn.name, f"waiting: {r.outcome.reason}")
            time.sleep(min(1.0 + random.random(), max(0.1, deadline - time.monotonic())))
            for r in runs:
                r.lock_held, r.facts, r.actions = False, None, []
                r.outcome.status, r.outcome.reason, r.outcome.containers = "skipped", "", []

    def _release(self, run: HostRun) -> None:
        if run.engine is None or not run.locked:
            return
        run.engine.finalize([], [], self.run_id)
        run.locked = False
        self._hold(run, False)

    def _play(self, play: Play) -> None:
        runs = [HostRun(h, HostOutcome(h.name, play=play.name)) for h in play.hosts]
        self.report.hosts += [r.outcome for r in runs]
        info = json.dumps(
            {
                "who": who(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "pid_start": process_start(os.getpid()),
                "run": self.run_id,
                "since": now_iso(),
                "prio": self.prio,
                "playbook": self.playbook.path,
                "play": play.name,
            }
        )
        try:
            if not self._acquire(play, runs, info):
                return  # another run is at work here: touched nothing, gave back our locks, exit 6
            if not self.opts.check and not removal.confirmed(
                [(r.conn.name, r.actions) for r in runs], self.opts.confirm
            ):
                self.report.declined = True  # nothing of this play changes, no play after it
                removal.skip([r.outcome for r in runs], removal.DECLINED)
            elif not self.opts.check:
                self._batches(play, runs)
        finally:
            # Every host that may hold our lock gets it back, whatever happened above.
            self._parallel(
                [
                    r
                    for r in runs
                    if r.engine is not None
                    and r.engine.connections
                    and (r.locked or r.prune or r.audit)
                ],
                self._finalize,
            )

    def _give_back(self, runs: list[HostRun]) -> None:
        """Wait-die: this run met an older one. Release our locks on the play's other hosts
        now, even those still pulling: the older run waits only a little for them."""
        with self._lock:
            self._yielding.set()  # hosts not started yet will not take a lock (see _prepare)
            ours = [r for r in runs if r.locked and r.engine is not None]
        self._parallel(ours, self._release_early)

    def _release_early(self, run: HostRun) -> None:
        """Release by our run id (a no-op if not ours yet), again while its command still
        runs: it may take the lock just after a release that came first."""
        assert run.engine is not None
        while True:
            run.engine.finalize([], [], self.run_id)
            if not run.preparing:
                return
            time.sleep(0.3)

    def _prepare(
        self,
        play: Play,
        run: HostRun,
        *,
        lock_info: str,
        lock_wait: float,
        siblings: list[HostRun] | None = None,
    ) -> None:
        t0 = time.monotonic()
        wanted = play.containers.get(run.conn.name, ())
        specs = tuple(s for s in wanted if s.state == "present")  # absent ones need no image
        run.engine = engine = self.engine(run.conn)
        self.opts.on_event(run.conn.name, "connecting" if engine.commands == 0 else "preparing")
        pull = not (self.opts.check or self.opts.rollback or self.opts.operation)
        images = [] if (self.opts.rollback or self.opts.operation) else [s.image for s in specs]
        nonce = uuid.uuid4().hex
        lock = None if self.opts.check else LockRequest(lock_info, self.prio, lock_wait)
        with self._lock:
            if lock is not None and self._yielding.is_set():
                run.outcome.reason = "not started: another run holds a host of this play"
                return
            run.locked = lock is not None  # from here on the host may hold our lock
            run.preparing = True
        try:
            res = engine.prepare(
                images,
                play.registry,
                lock=lock,
                pull=pull,
                specs=specs,
                nonce=nonce,
                networks=play.networks,
            )
        finally:
            run.preparing = False
        run.outcome.took += time.monotonic() - t0
        path = engine.engine_path
        if path.startswith("cli") and run.conn.engine_api == "auto" and run.conn.become is None:
            self.opts.on_event(run.conn.name, f"engine: {path}")  # a fallback: say why
        self._hold(run, run.locked and res.status != "locked")
        if res.status == "locked":
            run.lock_held, run.locked = True, False
            if siblings:
                self._give_back([r for r in siblings if r is not run])
            # not failed: this host was not touched (docs/deploy.md: skipped, exit 6)
            run.outcome.status = "skipped"
            run.outcome.reason = f"locked by {res.message or 'another run'}"
            return
        if res.status == "login":
            raise RemoteError(f"registry login failed: {res.message}")
        if res.status in ("denied", "conflict"):  # the message says it all
            raise RemoteError(res.message)
        if res.status == "pull":
            raise RemoteError(f"pull failed, nothing changed: {res.message}")
        if res.status != "ok" or res.facts is None:
            raise RemoteError(f"could not read the host's containers: {res.message}")
        run.facts = res.facts
        run.outcome.upkeep = list(res.upkeep)
        if self.opts.operation:
            run.actions = plan_operation(specs, run.facts, self.opts.operation, self.opts.container)
        elif self.opts.rollback:  # replace: never is not the app's to roll back
            kept = tuple(s for s in specs if s.replace != "never")
            run.actions = plan_rollback(kept, run.facts, self.opts.to)
        else:
            names = self.declared.get(run.conn.name, ()) if self.opts.prune_undeclared else None
            run.actions = plan_deploy(
                wanted, run.facts, force=self.opts.force, nonce=nonce, declared=names
            )
        for action in run.actions:
            run.outcome.containers.append(self._planned(action, run.facts))
        changed = any(a.changed for a in run.actions) or bool(run.outcome.upkeep)
        run.outcome.status = "changed" if changed else "ok"
        missing = [a for a in run.actions if self.opts.rollback and not a.changed]
        if missing:  # asked to roll back, and there is nothing to roll back to
            run.outcome.fail("; ".join(f"{a.spec.name}: {a.changes[0]}" for a in missing))
        summary = (
            ", ".join([*(f"{a.spec.name}: {a.kind}" for a in run.actions), *run.outcome.upkeep])
            or "no containers"
        )
        self.opts.on_event(run.conn.name, ("would " if self.opts.check else "plan ") + summary)

    def _planned(self, action: Action, facts: Facts) -> ContainerOutcome:
        cur = action.current
        old = facts.by_id.get(cur.image_id) if cur else None
        new_id: str | None
        new_image: str | None
        if action.target is not None:  # rollback: the retained container's own image
            new_image, new_id = action.target.image, action.target.image_id
            new = facts.by_id.get(new_id)
        elif action.kind in OPERATIONS and cur is not None:  # the version it runs, again
            new_image, new_id, new = cur.image, cur.image_id, old
        elif action.kind == "remove":  # nothing new; the old one may be a retained version
            cur = cur or action.remove[0]
            old, new_image, new_id, new = facts.by_id.get(cur.image_id), None, None, None
        else:
            new = facts.images.get(image_key(action.spec.image))
            new_image, new_id = action.spec.image, (new.id if new else None)
        return ContainerOutcome(
            name=action.spec.name,
            action=action.kind,
            changes=list(action.changes),
            old_image=cur.image if cur else None,
            old_image_id=cur.image_id if cur else None,
            old_digest=old.digest if old else None,
            new_image=new_image,
            new_image_id=new_id,
            new_digest=new.digest if new else None,
        )

    def _batches(self, play: Play, runs: list[HostRun]) -> None:
        by_name = {r.conn.name: r for r in runs}
        groups = batches([r.conn.name for r in runs], play.serial)
        for index, names in enumerate(groups):
            if self.opts.cancel.is_set():
                self._skip(by_name, groups[index:], "interrupted before this host started")
                return
            batch = [by_name[n] for n in names]
            # Each host is finalized (pruned, audited, unlocked) as soon as its own work
            # ends, without waiting for the slowest host of its batch.
            self._parallel(batch, self._apply_and_finalize)
            failed = sum(1 for r in batch if r.outcome.status in ("failed", "unreachable"))
            pct = 100.0 * failed / len(batch)
            limit = play.max_fail_percentage
            stop = (limit is not None and pct > limit) or (
                limit is None and failed == len(batch) and failed
            )
            if stop and index + 1 < len(groups):
                why = (
                    f"rollout stopped: {failed}/{len(batch)} hosts failed in batch {index + 1}"
                    + (f" (max_fail_percentage {limit:g})" if limit is not None else "")
                )
                self._skip(by_name, groups[index + 1 :], why)
                return

    def _skip(self, by_name: dict[str, HostRun], groups: list[list[str]], why: str) -> None:
        for names in groups:
            for n in names:
                run = by_name[n]
                if run.outcome.status in ("ok", "changed"):
                    run.outcome.status, run.outcome.reason = "skipped", why
                    for c in run.outcome.containers:
                        c.action = "skipped" if c.action != "noop" else c.action
                    self.opts.on_event(n, f"skipped: {why}")

    def _apply(self, run: HostRun) -> None:
        assert run.engine is not None and run.facts is not None
        t0 = time.monotonic()
        if run.outcome.upkeep:
            self.opts.on_event(run.conn.name, "; ".join(run.outcome.upkeep))
            failed = run.engine.upkeep()
            if failed:
                run.outcome.fail(f"host upkeep: {failed}")
        for action, outcome in zip(run.actions, run.outcome.containers, strict=False):
            if not action.changed:
                outcome.health = "n/a"
                continue
            if run.outcome.status == "failed":
                outcome.action, outcome.error = (
                    "skipped",
                    "an earlier container on this host failed",
                )
                continue
            self.applier.apply_one(run, action, outcome)
        run.outcome.took += time.monotonic() - t0

    def _apply_and_finalize(self, run: HostRun) -> None:
        try:
            if run.outcome.status == "changed":
                self._apply(run)
        finally:
            if run.engine is not None and run.engine.connections:
                self._finalize(run)
                if run.outcome.status == "ok":
                    # nothing changed or failed here: nothing more to ask of this host (the
                    # summary reads changed and failed ones); its SSH transport's thread
                    # wakes 10 times a second, and 1,000 of them starve the run
                    run.engine.close()

    def _finalize(self, run: HostRun) -> None:
        if run.finalized or run.engine is None or not (run.locked or run.prune or run.audit):
            return
        run.finalized = True
        if run.lock_held and not (run.prune or run.audit):
            return  # the lock is another run's
        token = self.run_id if run.locked else None
        error = run.engine.finalize(run.prune, run.audit, token)
        self._hold(run, False)
        if error is not None and run.outcome.status != "failed":
            run.outcome.fail(f"could not release the lock or write the audit log: {error}")
