"""An in-memory Engine for the rollout's state-machine tests: hosts keep containers, a lock
and an audit log across runs, and any step can be made to fail.

Semantics follow the SSH engine's: containers are created before the old one stops, a
failed start is removed by id, restore acts on ids, the lock is taken wait-die style.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import RemoteError, Unreachable
from deployer.model import (
    ContainerSpec,
    Facts,
    HostConn,
    ImageInfo,
    NetworkSpec,
    Observed,
    RegistryAuth,
    image_key,
    spec_hash,
    spec_public,
)
from deployer.targets import (
    Attempt,
    GateResult,
    LockRequest,
    Prepared,
    Removed,
    Restored,
    Started,
)

_ids = itertools.count(1)


@dataclass
class Box:
    """One container on a fake host."""

    id: str
    name: str
    logical: str
    image: str
    spec_hash: str
    spec: dict[str, Any]
    running: bool = False
    ever_ran: bool = False
    created: int = field(default_factory=lambda: next(_ids))
    attempt: str = ""


@dataclass
class FakeHost:
    """A host's lasting state: what a second run (or the test) sees."""

    name: str
    boxes: dict[str, Box] = field(default_factory=dict)
    lock: dict[str, Any] | None = None  # {"info": ..., "prio": ..., "run": ...}
    audit: list[dict[str, Any]] = field(default_factory=list)
    # step -> what goes wrong there: "unreachable" | "pull" | "login" | "start" | "unhealthy"
    # | "gate-raises" | "gate-bug" | "late" | "restore-raises" | "finalize" | "upkeep"
    # | "remove-route" (the proxy route could not go) | "remove" (docker rm failed)
    fail: set[str] = field(default_factory=set)
    on: dict[str, Callable[[], None]] = field(default_factory=dict)  # step -> hook run first
    log: list[str] = field(default_factory=list)  # the steps, in order
    upkeep: tuple[str, ...] = ()  # host-level work the prepare step reports (the proxy's)

    def live(self, name: str) -> Box | None:
        return next((b for b in self.boxes.values() if b.name == name), None)

    def run_as(self, spec: ContainerSpec) -> Box:
        """Put a container of `spec` on the host, running, as an earlier deploy would have."""
        box = Box(
            f"c{next(_ids):04d}",
            spec.name,
            spec.name,
            spec.image,
            spec_hash(spec),
            spec_public(spec),
            running=True,
            ever_ran=True,
        )
        self.boxes[box.id] = box
        return box


class FakeEngine:
    """One host as the rollout sees it, in memory."""

    def __init__(self, conn: HostConn, host: FakeHost):
        self.conn = conn
        self.host = host
        self._commands = 0
        self.closed = False
        self.path = "api"  # how prepare reached the engine (engine_path), once it ran

    @property
    def commands(self) -> int:
        return self._commands

    @property
    def connections(self) -> int:
        return 1 if self._commands else 0

    @property
    def channels(self) -> int:
        return 0

    @property
    def engine_path(self) -> str:
        return self.path if self._commands else ""

    def _step(self, name: str) -> None:
        if "unreachable" in self.host.fail:
            raise Unreachable(f"{self.conn.name}: cannot connect")
        self._commands += 1
        self.host.log.append(name)
        hook = self.host.on.get(name)
        if hook is not None:
            hook()

    # -- the protocol ---------------------------------------------------------------------
    def prepare(
        self,
        images: Sequence[str],
        registry: RegistryAuth | None,
        *,
        lock: LockRequest | None,
        pull: bool,
        specs: Sequence[ContainerSpec],
        nonce: str,
        networks: Sequence[NetworkSpec] = (),
    ) -> Prepared:
        self._step("prepare")
        if lock is not None:
            held = self.host.lock
            if held is not None:
                return Prepared("locked", message=held["info"])
            self.host.lock = {
                "info": lock.info,
                "prio": lock.prio,
                "run": json.loads(lock.info)["run"],
            }
        hook = self.host.on.get("pull")
        if hook is not None:  # after the lock, like the pulls of the real prepare
            hook()
        if pull and "login" in self.host.fail:
            return Prepared("login", message="unauthorized")
        if pull and "pull" in self.host.fail:
            return Prepared("pull", message="manifest unknown")
        return Prepared("ok", self._facts(images), upkeep=self.host.upkeep)

    def operate(self, op: str, spec: ContainerSpec, live: Observed) -> GateResult:
        self._step(op)
        box = self.host.boxes[live.id]
        box.running = op != "stop"
        if op != "stop" and "unhealthy" in self.host.fail:
            return GateResult(False, "not healthy after 5s")
        return GateResult(True, "stopped" if op == "stop" else "healthy")

    def upkeep(self) -> str | None:
        self._step("upkeep")
        if "upkeep" in self.host.fail:
            return "the new proxy did not start; the old proxy was put back"
        self.host.upkeep = ()
        return None

    def _facts(self, images: Sequence[str]) -> Facts:
        containers = [
            Observed(
                id=b.id,
                name=b.name,
                image=b.image,
                image_id=f"sha256:{b.image}",
                labels={},
                logical=b.logical,
                managed=True,
                spec_hash=b.spec_hash,
                spec=b.spec,
                status="running" if b.running else ("exited" if b.ever_ran else "created"),
                running=b.running,
                created=f"{b.created:08d}",
                started_at="2024-01-01T00:00:00Z" if b.ever_ran else "0001-01-01T00:00:00Z",
                ip="10.0.0.2",
            )
            for b in self.host.boxes.values()
        ]
        imgs = {image_key(i): ImageInfo(f"sha256:{i}") for i in images}
        by_id = {info.id: info for info in imgs.values()}
        return Facts(containers, imgs, by_id)

    def replace(
        self,
        spec: ContainerSpec,
        current: Observed | None,
        deployed_at: str,
        deployed_by: str,
        attempt: Attempt,
    ) -> Started:
        self._step("replace")
        new = Box(
            f"n{next(_ids):04d}",
            f"{spec.name}_next",
            spec.name,
            spec.image,
            spec_hash(spec),
            spec_public(spec),
            attempt=attempt.id,
        )
        self.host.boxes[new.id] = new
        if current is not None:
            old = self.host.boxes[current.id]
            old.running, old.name = False, f"{spec.name}_prev_{old.id}"
        new.name = spec.name
        if "start" in self.host.fail:
            del self.host.boxes[new.id]  # removed by id: nothing `Created` is left
            return Started(None, "", "Bind for 0.0.0.0:8080 failed: port is already allocated")
        new.running = new.ever_ran = True
        return Started(new.id, "10.0.0.3")

    def gate(self, spec: ContainerSpec, started: Started, attempt: Attempt) -> GateResult:
        self._step("gate")
        if "gate-raises" in self.host.fail:
            raise RemoteError(f"{self.conn.name}: connection lost")
        if "gate-bug" in self.host.fail:
            raise ValueError("a bug")
        if "late" in self.host.fail:
            from deployer.targets import LATE

            return GateResult(False, LATE)
        if "unhealthy" in self.host.fail:
            return GateResult(
                False, f"not healthy after {spec.health.timeout:.0f}s: connection refused"
            )
        return GateResult(True, "HTTP 200 on / in 1 ms")

    def restore(
        self,
        spec: ContainerSpec,
        attempt: Attempt,
        failed_id: str | None,
        previous: Observed | None,
    ) -> Restored:
        self._step("restore")
        if "restore-raises" in self.host.fail:
            raise RemoteError(f"{self.conn.name}: connection lost")
        for box in list(self.host.boxes.values()):
            if box.id == failed_id or (box.attempt == attempt.id and box.attempt):
                del self.host.boxes[box.id]
        if previous is None:
            return Restored([], "removed the failed container (nothing ran before)")
        holder = self.host.live(spec.name)
        if holder is not None and holder.id != previous.id:
            return Restored([], f"ROLLBACK FAILED: the name {spec.name} is held by {holder.id}")
        old = self.host.boxes[previous.id]
        old.name, old.running = spec.name, True
        return Restored(["last log line"], f"rolled back to {previous.image}")

    def swap(
        self, spec: ContainerSpec, live: Observed | None, target: Observed, attempt: Attempt
    ) -> GateResult:
        self._step("swap")
        if live is not None:
            cur = self.host.boxes[live.id]
            cur.running, cur.name = False, f"{spec.name}_prev_{cur.id}"
        back = self.host.boxes[target.id]
        back.name, back.running = spec.name, True
        return GateResult(True, "HTTP 200 on / in 1 ms")

    def finalize(
        self, prune: Sequence[str], audit: Sequence[str], unlock_token: str | None
    ) -> str | None:
        self._step("finalize")
        if "finalize" in self.host.fail:
            return "No space left on device"
        for cid in prune:
            self.host.boxes.pop(cid, None)
        self.host.audit += [json.loads(a) for a in audit]
        if unlock_token and self.host.lock and self.host.lock["run"] == unlock_token:
            self.host.lock = None
        return None

    def remove(
        self, spec: ContainerSpec, containers: Sequence[Observed], audit: Sequence[str]
    ) -> Removed:
        """As the SSH engine: the route goes first, then the audit record, then the containers."""
        self._step("remove")
        if "remove-route" in self.host.fail:
            return Removed(False, f"the proxy still routes to {spec.name}: nothing removed", False)
        self.host.audit += [json.loads(a) for a in audit]
        if "remove" in self.host.fail:
            return Removed(False, f"could not remove {containers[0].id}", True)
        for c in containers:
            self.host.boxes.pop(c.id, None)
        return Removed(True, f"removed {len(containers)} container(s)", True)

    def heartbeat(self, token: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True
