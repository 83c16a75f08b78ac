"""What a run produced: per-host and per-container outcomes. Plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from deployer.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_NOT_CONFIRMED,
    EXIT_OK,
    EXIT_UNREACHABLE,
)

HostStatus = Literal["ok", "changed", "failed", "unreachable", "skipped"]
REPORT_SCHEMA = "deployer.run/v1"


@dataclass
class ContainerOutcome:
    name: str
    action: str  # noop / create / replace / rollback
    changes: list[str] = field(default_factory=list)
    old_image: str | None = None
    new_image: str | None = None
    old_image_id: str | None = None
    old_digest: str | None = None
    new_image_id: str | None = None
    new_digest: str | None = None
    health: str = "skipped"  # passed / failed / skipped / n/a
    health_detail: str = ""
    rolled_back: bool = False
    logs: list[str] = field(default_factory=list)
    took: float = 0.0
    error: str | None = None


@dataclass
class HostOutcome:
    name: str
    play: str = ""
    status: HostStatus = "skipped"
    reason: str = ""
    containers: list[ContainerOutcome] = field(default_factory=list)
    upkeep: list[str] = field(default_factory=list)  # host-level work: networks, the proxy
    took: float = 0.0
    commands: int = 0  # commands run on the host (SSH exec channels), lock heartbeats aside
    connections: int = 0  # SSH connections opened (2 through a jump host)
    channels: int = 0  # stream-local channels to the engine's socket: requests, not commands
    engine: str = ""  # how the prepare step reached the engine: `api` or `cli (why)`

    def fail(self, reason: str) -> None:
        self.status = "failed"
        self.reason = reason


@dataclass
class RunReport:
    playbook: str
    check: bool = False
    started_at: str = ""
    run: str = ""  # the run's id (its locks and audit records carry it)
    took: float = 0.0
    interrupted: bool = False
    locked: bool = False  # another run held a lock: this one stopped before changing those hosts
    declined: bool = False  # removals of undeclared containers were not confirmed: it stopped
    hosts: list[HostOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.locked:
            return EXIT_LOCKED
        if self.declined:
            return EXIT_NOT_CONFIRMED
        statuses = {h.status for h in self.hosts}
        if "failed" in statuses:
            return EXIT_FAILED
        if "unreachable" in statuses:
            return EXIT_UNREACHABLE
        return EXIT_OK

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunReport:
        """to_json's inverse (a recorded run); fields it does not know are left out."""
        hosts = [
            HostOutcome(
                **{
                    **_known(HostOutcome, h),
                    "containers": [
                        ContainerOutcome(**_known(ContainerOutcome, c))
                        for c in h.get("containers") or []
                    ],
                }
            )
            for h in data.get("hosts") or []
        ]
        return cls(**{**_known(cls, data), "hosts": hosts})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = REPORT_SCHEMA
        data["exit_code"] = self.exit_code
        data["summary"] = {
            s: sum(1 for h in self.hosts if h.status == s)
            for s in ("ok", "changed", "failed", "unreachable", "skipped")
        }
        return data


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)} - {"hosts", "containers"}
    return {k: v for k, v in data.items() if k in names}
