"""What a swarm reports (service, tasks, nodes as the Engine API gives them) read as
plain data: where an update stands, what each node runs. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["converged", "updating", "rolled_back", "paused"]
_FAILED_TASK = ("failed", "rejected", "orphaned")


@dataclass(frozen=True)
class Node:
    id: str
    name: str  # the inventory's name when its address is one of the inventory's, else hostname
    address: str
    role: str
    state: str  # ready, down, unknown
    availability: str  # active, pause, drain
    engine: str  # engine version
    leader: bool = False
    message: str = ""  # Status.Message: why it is down ("heartbeat failure")


@dataclass(frozen=True)
class TaskView:
    node: str  # node name ("" when not yet placed)
    image: str
    state: str  # running, starting, failed, shutdown...
    desired: str
    error: str
    slot: int | None = None


@dataclass(frozen=True)
class Standing:
    """Where a service's update stands."""

    phase: Phase
    image: str  # the image its spec names now
    running: int  # tasks running that image
    wanted: int  # tasks it should run
    message: str = ""  # UpdateStatus.Message
    started: str = ""  # UpdateStatus.StartedAt: which update the state is of
    tasks: tuple[TaskView, ...] = ()
    reasons: tuple[str, ...] = field(default=())  # failed tasks: "node: image: error"
    down: tuple[Node, ...] = ()  # nodes that are not ready (their engine does not answer)

    @property
    def down_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.down)

    def down_text(self) -> str:
        """The nodes that are down, in words ("" when none is)."""
        if not self.down:
            return ""
        nodes = ", ".join(f"{n.name} ({n.message or n.state})" for n in self.down)
        return f"node down: {nodes}: its task is not running there until its engine is back"

    def summary(self) -> dict[str, Any]:
        """What reports show of it (health's JSON, `swarm status -o json`)."""
        return {
            "image": self.image,
            "running": self.running,
            "wanted": self.wanted,
            "phase": self.phase,
            "message": self.message,
            "tasks_by_node": self.by_node,
        }

    @property
    def by_node(self) -> dict[str, list[str]]:
        """node -> the images of the tasks it runs."""
        out: dict[str, list[str]] = {}
        for t in self.tasks:
            if t.desired == "running" and t.state == "running":
                out.setdefault(t.node, []).append(t.image)
        return out


def nodes(raw: list[dict[str, Any]], names: dict[str, str]) -> list[Node]:
    """Nodes from /nodes; `names`: address -> inventory name."""
    out = []
    for n in raw:
        status = n.get("Status") or {}
        spec = n.get("Spec") or {}
        desc = n.get("Description") or {}
        addr = str(status.get("Addr") or "")
        out.append(
            Node(
                id=str(n.get("ID") or ""),
                # engines may share a hostname (the lab's do): the address tells them apart
                name=names.get(addr) or f"{desc.get('Hostname') or n.get('ID')}@{addr}",
                address=addr,
                role=str(spec.get("Role") or ""),
                state=str(status.get("State") or "unknown"),
                availability=str(spec.get("Availability") or ""),
                engine=str((desc.get("Engine") or {}).get("EngineVersion") or ""),
                leader=bool((n.get("ManagerStatus") or {}).get("Leader")),
                message=str(status.get("Message") or ""),
            )
        )
    return sorted(out, key=lambda x: x.name)


def task_views(tasks: list[dict[str, Any]], node_names: dict[str, str]) -> tuple[TaskView, ...]:
    out = []
    for t in tasks:
        status = t.get("Status") or {}
        cspec = ((t.get("Spec") or {}).get("ContainerSpec")) or {}
        out.append(
            TaskView(
                node=node_names.get(str(t.get("NodeID") or ""), ""),
                image=str(cspec.get("Image") or ""),
                state=str(status.get("State") or ""),
                desired=str(t.get("DesiredState") or ""),
                error=str(status.get("Err") or ""),
                slot=t.get("Slot"),
            )
        )
    return tuple(sorted(out, key=lambda v: (v.node, v.slot or 0)))


def wanted_tasks(service: dict[str, Any], active_nodes: int) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    if "Global" in mode:
        return active_nodes
    return int((mode.get("Replicated") or {}).get("Replicas") or 0)


def standing(
    service: dict[str, Any],
    tasks: tuple[TaskView, ...],
    active_nodes: int,
    all_nodes: tuple[Node, ...] = (),
) -> Standing:
    """Converged: no update in flight, and exactly the wanted number of tasks run the spec's
    image (Swarm counts a task with a health check as running only once it is healthy),
    none an other image.

    A node that is down (its engine stopped answering the managers) holds an update up:
    Swarm's updater waits for the task it cannot place (a host-mode port is free on no
    other node) for as long as the node is away. When every task that runs is on the spec's
    image, and the tasks missing are no more than the nodes down and none of them is on a
    node that is up, the update is as done as it can be: converged (or rolled back, when it
    is Swarm's rollback that is held up), with the nodes named in `down`."""
    image = str(
        (((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
            "Image"
        )
        or ""
    )
    update = service.get("UpdateStatus") or {}
    state = str(update.get("State") or "")
    message = str(update.get("Message") or "")
    live = [t for t in tasks if t.desired == "running"]
    running = sum(1 for t in live if t.image == image and t.state == "running")
    others = [t for t in live if t.image != image and t.state == "running"]
    wanted = wanted_tasks(service, active_nodes)
    previous = str(
        (
            ((service.get("PreviousSpec") or {}).get("TaskTemplate") or {}).get("ContainerSpec")
            or {}
        ).get("Image")
        or ""
    )
    reasons = _reasons(tasks, previous if state.startswith("rollback") else "")
    down = tuple(n for n in all_nodes if n.state != "ready")
    held = _held_by_down_nodes(live, running, wanted, others, {n.name for n in down})
    phase: Phase
    if state == "rollback_completed" or (held and state == "rollback_started"):
        phase = "rolled_back"
    elif state in ("paused", "rollback_paused"):
        phase = "paused"
    elif held:
        phase = "converged"
    elif state in ("updating", "rollback_started"):
        phase = "updating"
    elif running >= wanted and not others and len(live) == running:
        phase = "converged"
    else:
        phase = "updating"
    started = str(update.get("StartedAt") or "")
    return Standing(phase, image, running, wanted, message, started, tasks, reasons, down)


def _held_by_down_nodes(
    live: list[TaskView], running: int, wanted: int, others: list[TaskView], down: set[str]
) -> bool:
    """Only nodes that are down keep the update from converging (see `standing`)."""
    if not down or others or running >= wanted or wanted - running > len(down):
        return False
    waiting = [t for t in live if t.state != "running"]
    return all(not t.node or t.node in down for t in waiting)


def _reasons(tasks: tuple[TaskView, ...], rolled_back: str) -> tuple[str, ...]:
    """Why an update did not converge: failed tasks, tasks that should run and do not (a
    pending task's "no suitable node"), and after Swarm's rollback the tasks of the image
    it rolled back from (they may end "complete", without an error: their node and image
    are the reason)."""
    out = []
    for t in tasks:
        stuck = t.desired == "running" and t.state != "running"
        if t.state in _FAILED_TASK or stuck or (rolled_back and t.image == rolled_back):
            text = f"{t.node or '(not placed)'}: {t.image}: {t.state}"
            out.append(text + (f": {t.error}" if t.error else ""))
    return tuple(dict.fromkeys(out))


def tasks_of(standing: Standing, image: str) -> tuple[str, ...]:
    """The tasks of IMAGE that do not run (those of an update Swarm rolled back): after the
    rollback they may have ended "complete", without an error; their node and image are the
    reason, and the error when there is one."""
    return _reasons(tuple(t for t in standing.tasks if t.state != "running"), image)
