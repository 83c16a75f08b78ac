"""What a rollout needs of one host: the `Engine` protocol and the plain results it returns.

The rollout (deployer/engine) receives engines and never builds a session. The SSH
implementation (targets/ssh.py) is the one that knows shells and paramiko; the tests
drive the rollout's state machine against an in-memory fake (tests/unit/engine/fake.py).
Next to it will come the proxy mode and the Swarm target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from deployer.model import ContainerSpec, Facts, HostConn, NetworkSpec, Observed, RegistryAuth

PrepareStatus = Literal["ok", "locked", "login", "pull", "denied", "conflict", "error"]
# What the controller says when the host's guard acted before the gate confirmed the new version.
LATE = "the host's guard restored the previous version before the controller confirmed this one"


@dataclass(frozen=True)
class Attempt:
    """One replace (or rollback swap) of one container: its id (labels what it creates and
    names its host guard) and the audit record the guard writes should it act."""

    id: str
    state_dir: str
    audit: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LockRequest:
    info: str  # one JSON line: who, pid, run, since, ...
    prio: str  # wait-die priority (docker/locking.py)
    wait: float  # seconds a host may wait for a younger holder


@dataclass
class Prepared:
    """Lock, login, pull and facts of one host, in one step."""

    status: PrepareStatus
    facts: Facts | None = None
    message: str = ""  # the holder's info when locked; the error text otherwise
    # host-level work outside the containers: networks to create, the proxy to upgrade,
    # start or re-certify
    upkeep: tuple[str, ...] = ()


@dataclass
class Started:
    id: str | None  # None: it did not start (see error)
    address: str = ""  # the container's own address, where probes go
    error: str = ""


@dataclass
class GateResult:
    ok: bool
    detail: str


@dataclass
class Restored:
    logs: list[str]  # the failed container's last log lines
    what: str  # what happened, for the report


@dataclass
class Removed:
    """What a removal did (state: absent, --prune-undeclared)."""

    ok: bool
    detail: str
    audited: bool  # its audit records are on the host (written before anything was removed)


@dataclass
class HealthRaw:
    """The host health script's output and when it ran, by the controller's clock."""

    out: str
    err: str
    latency: float  # one SSH round trip, seconds
    before: float  # time.time() just before the command
    after: float  # and just after


class Prober(Protocol):
    """Connects to an address and port as the host sees them (HTTP/TCP health probes)."""

    def probe_tcp(self, address: str, port: int, timeout: float = 3.0) -> float: ...

    def probe_http(
        self, address: str, port: int, path: str, timeout: float = 3.0
    ) -> tuple[int, float]: ...


class Observer(Prober, Protocol):
    """One host, as a health report sees it."""

    conn: HostConn

    def health_facts(self, timeout: float) -> HealthRaw: ...

    @property
    def engine_path(self) -> str:
        """How the last facts reached the engine: `api`, `cli (why)`, "" (not yet)."""
        ...

    def close(self) -> None: ...


class Engine(Protocol):
    """One host, as a rollout sees it. Methods raise DeployerError (Unreachable, RemoteError)."""

    conn: HostConn

    @property
    def commands(self) -> int: ...

    @property
    def connections(self) -> int: ...

    @property
    def channels(self) -> int:
        """Channels to the engine's socket (the Engine API): not commands, nothing ran."""
        ...

    @property
    def engine_path(self) -> str:
        """How prepare reached the engine: `api`, `cli (why)`, or "" (not yet, or n/a)."""
        ...

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
    ) -> Prepared: ...

    def replace(
        self,
        spec: ContainerSpec,
        current: Observed | None,
        deployed_at: str,
        deployed_by: str,
        attempt: Attempt,
    ) -> Started: ...

    def operate(self, op: str, spec: ContainerSpec, live: Observed) -> GateResult:
        """restart / stop / start the live container; restart and start pass its gate."""
        ...

    def upkeep(self) -> str | None:
        """Do what `Prepared.upkeep` listed. None, or what failed (the host as it was)."""
        ...

    def gate(self, spec: ContainerSpec, started: Started, attempt: Attempt) -> GateResult: ...

    def restore(
        self,
        spec: ContainerSpec,
        attempt: Attempt,
        failed_id: str | None,
        previous: Observed | None,
    ) -> Restored: ...

    def swap(
        self, spec: ContainerSpec, live: Observed | None, target: Observed, attempt: Attempt
    ) -> GateResult: ...

    def finalize(
        self, prune: Sequence[str], audit: Sequence[str], unlock_token: str | None
    ) -> str | None:
        """Remove `prune`, append `audit`, release our lock. None, or what failed."""
        ...

    def remove(
        self, spec: ContainerSpec, containers: Sequence[Observed], audit: Sequence[str]
    ) -> Removed:
        """Remove every container of `spec.name` (live, retained): a proxied one's route
        goes first, then `audit` is appended, then they are stopped and removed; one
        command. A step that fails stops the ones after it."""
        ...

    def heartbeat(self, token: str) -> None: ...

    def close(self) -> None: ...
