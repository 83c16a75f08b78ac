"""The rollout of a `target: swarm` play: one service update per container, through one
manager; Swarm itself places tasks, updates them in batches and rolls a failed update back.

Not the host-by-host Rollout (engine/rollout.py): there is no per-host step to drive (no
host to lock, pull on, gate or switch); deployer's part is the spec, the wait for
convergence and the report (docs/architecture.md). Never prints; events go to `on_event`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.docker import swarm_spec as ss
from deployer.docker.swarm_state import Standing, tasks_of
from deployer.errors import EXIT_FAILED, EXIT_OK, DeployerError
from deployer.model import ContainerSpec, Play
from deployer.targets.swarm import SwarmManager

POLL = 0.5


@dataclass
class SwarmOptions:
    check: bool = False
    force: bool = False
    rollback: bool = False
    on_event: Callable[[str, str], None] = lambda who, what: None


@dataclass
class ServiceOutcome:
    play: str
    service: str
    status: str  # ok, changed, failed, "would change", "would create"
    image: str = ""
    reason: str = ""
    diff: tuple[str, ...] = ()
    nodes: dict[str, list[str]] = field(default_factory=dict)  # node -> images of its tasks
    seconds: float = 0.0
    down_nodes: tuple[str, ...] = ()  # nodes not ready when the wait ended

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SwarmReport:
    manager: str
    check: bool
    outcomes: list[ServiceOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if any(o.status == "failed" for o in self.outcomes) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "deployer.swarm-run/v1",
            "manager": self.manager,
            "check": self.check,
            "seconds": round(self.seconds, 2),
            "exit_code": self.exit_code,
            "services": [o.to_json() for o in self.outcomes],
        }


def run(mgr: SwarmManager, plays: list[Play], opts: SwarmOptions) -> SwarmReport:
    started = time.monotonic()
    report = SwarmReport(manager=mgr.host, check=opts.check)
    for play in plays:
        mgr.add_names(list(play.hosts))
        specs = play.containers.get(play.hosts[0].name, ()) if play.hosts else ()
        for spec in specs:
            one = time.monotonic()
            try:
                if opts.rollback:
                    outcome = rollback_service(mgr, play, spec, opts)
                else:
                    outcome = deploy_service(mgr, play, spec, opts)
            except DeployerError as err:
                outcome = ServiceOutcome(play.name, spec.name, "failed", spec.image, str(err))
            outcome.seconds = time.monotonic() - one
            opts.on_event(spec.name, f"{outcome.status} {outcome.reason}".strip())
            report.outcomes.append(outcome)
    report.seconds = time.monotonic() - started
    return report


def _tasks(mgr: SwarmManager, spec: ContainerSpec) -> int:
    sw = ss.swarm_of(spec)
    if sw.mode == "replicated":
        return sw.replicas
    return sum(1 for n in mgr.nodes() if n.state == "ready" and n.availability == "active")


def deploy_service(
    mgr: SwarmManager, play: Play, spec: ContainerSpec, opts: SwarmOptions
) -> ServiceOutcome:
    current = mgr.service(spec.name)
    tasks = _tasks(mgr, spec)
    refs = mgr.secrets_for(spec.name, spec.secret_env, create=not opts.check)
    desired = ss.public(spec, play.serial, play.max_fail_percentage, refs, tasks)
    old_hash, old_public = ss.recorded(current) if current else ("", {})
    out = ServiceOutcome(play.name, spec.name, "ok", spec.image)
    same_image = current is not None and _image(current) == spec.image
    if current is not None and old_hash == ss.public_hash(desired) and same_image:
        if not opts.force:
            out.nodes = mgr.standing(spec.name).by_node
            return out
    out.diff = tuple(ss.diff(old_public, desired)) if current else ()
    if opts.check:
        out.status = "would create" if current is None else "would change"
        return out
    image = mgr.image_config(spec.image, play.registry) if spec.secret_env else None
    force_n = _force_n(current) + (1 if opts.force and current is not None else 0)
    body = ss.service_spec(spec, play.serial, play.max_fail_percentage, refs, tasks, image, force_n)
    before = mgr.standing(spec.name).started if current else ""
    opts.on_event(spec.name, "creating the service" if current is None else "updating")
    if current is None:
        mgr.create(body, play.registry)
    else:
        mgr.update(current, body, play.registry)
    standing = wait(mgr, spec.name, ss.swarm_of(spec).timeout, before, opts)
    return _settle(mgr, out, standing, spec.name, ss.swarm_of(spec).timeout, before, opts)


def _settle(
    mgr: SwarmManager,
    out: ServiceOutcome,
    standing: Standing | None,
    name: str,
    timeout: float,
    before: str,
    opts: SwarmOptions,
) -> ServiceOutcome:
    if standing is not None and standing.phase == "converged":
        mgr.prune_secrets(name)
        out.status, out.nodes = "changed", standing.by_node
        out.down_nodes = standing.down_names
        if standing.down:  # done on every node that is up
            out.reason = "completed on the nodes that are up; " + standing.down_text()
        return out
    out.status = "failed"
    if standing is None:  # not converged in time: Swarm's rollback, then report
        current = mgr.service(name)
        last = mgr.standing(name)
        out.reason = (
            f"did not converge within {timeout:g}s "
            f"({last.running}/{last.wanted} tasks on {last.image})"
        )
        state = str(((current or {}).get("UpdateStatus") or {}).get("State") or "")
        # never roll back a rollback: that would bring the failed spec back
        ours = current is not None and _image(current) == out.image
        if ours and not state.startswith("rollback") and current and current.get("PreviousSpec"):
            mgr.rollback(current)
            out.reason += "; deployer asked Swarm to roll back"
            standing = wait(mgr, name, timeout, last.started, opts, rollback=True)
            if standing is None:  # where the rollback stands now, not before it
                standing = mgr.standing(name)
                out.reason += f" (not done within {timeout:g}s either)"
        else:
            if state.startswith("rollback"):
                out.reason += f"; Swarm is rolling back ({state}): {last.message}"
            standing = last
        out.reason += _why(standing)
    else:
        tried = tasks_of(standing, out.image)  # the tasks of the image that failed
        standing = dataclasses.replace(standing, reasons=(*standing.reasons, *tried))
        out.reason = f"Swarm {standing.phase.replace('_', ' ')}: {standing.message}" + _why(
            standing
        )
        if standing.phase == "rolled_back":
            out.image = standing.image
    if standing.down:
        out.reason += "; " + standing.down_text()
    out.nodes, out.down_nodes = standing.by_node, standing.down_names
    return out


def _why(standing: Standing) -> str:
    reasons = list(dict.fromkeys(standing.reasons))[:5]
    return ("; tasks: " + "; ".join(reasons)) if reasons else ""


def rollback_service(
    mgr: SwarmManager, play: Play, spec: ContainerSpec, opts: SwarmOptions
) -> ServiceOutcome:
    out = ServiceOutcome(play.name, spec.name, "changed")
    current = mgr.service(spec.name)
    if current is None:
        out.status, out.reason = "failed", "no such service"
        return out
    state = (current.get("UpdateStatus") or {}).get("State")
    if state == "rollback_completed":  # Swarm's rollback swaps specs: a second one undoes it
        out.status = "failed"
        out.reason = f"Swarm already rolled the last update back; it runs {_image(current)}"
        return out
    if opts.check:
        out.status = "would change"
        out.diff = tuple(ss.diff(ss.recorded(current)[1], _previous_public(current)))
        return out
    before = mgr.standing(spec.name).started
    mgr.rollback(current)
    timeout = ss.swarm_of(spec).timeout
    standing = wait(mgr, spec.name, timeout, before, opts, rollback=True)
    if standing is None or standing.phase == "paused":
        out.status = "failed"
        out.reason = (
            f"the rollback did not complete within {timeout:g}s"
            if standing is None
            else (f"Swarm rollback paused: {standing.message}{_why(standing)}")
        )
        return out
    out.image, out.nodes = standing.image, standing.by_node
    out.down_nodes = standing.down_names
    if standing.down:
        out.reason = "rolled back on the nodes that are up; " + standing.down_text()
    return out


def wait(
    mgr: SwarmManager,
    name: str,
    timeout: float,
    before: str,
    opts: SwarmOptions,
    rollback: bool = False,
) -> Standing | None:
    """Poll until the service converges, Swarm rolls it back or pauses it: that standing;
    None after `timeout`. A state of the update before ours (`before`) is not an answer."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        s = mgr.standing(name)
        line = f"{s.phase}: {s.running}/{s.wanted} tasks on {s.image}"
        if line != seen:
            opts.on_event(name, line)
            seen = line
        fresh = s.started != before or not before
        if rollback:
            if fresh and s.phase in ("rolled_back", "paused"):
                return s
            if fresh and s.phase == "converged" and s.started:
                return s
        elif fresh and s.phase in ("rolled_back", "paused"):
            return s
        elif s.phase == "converged" and (fresh or not opts.force):
            return s
        time.sleep(POLL)
    return None


def _image(service: dict[str, Any]) -> str:
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image") or "")


def _force_n(service: dict[str, Any] | None) -> int:
    if service is None:
        return 0
    return int(service["Spec"]["TaskTemplate"].get("ForceUpdate") or 0)


def _previous_public(service: dict[str, Any]) -> dict[str, Any]:
    return ss.recorded({"Spec": service.get("PreviousSpec") or {}})[1]
