"""Desired state: the plain data that flows from config/ to plan/, docker/ and engine/.

Everything here is immutable and free of I/O. Secret values travel as `Secret`,
whose repr and str never show the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Secret:
    """A secret value. Its repr/str are masked; only `.reveal()` gives the value."""

    source: str  # where it came from, e.g. "env:DB_PASSWORD" or "file:/run/secret"
    _value: str = field(repr=False, compare=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return f"Secret({self.source}, ***)"


@dataclass(frozen=True)
class PortSpec:
    """One published port, as `docker run -p` has it after range expansion."""

    container_port: int
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    host_port: int | None = None  # None: docker picks one
    host_ip: str = ""  # "" means all interfaces

    def to_docker(self) -> str:
        """The `-p` argument for this one port."""
        c = f"{self.container_port}/{self.protocol}"
        if self.host_port is None:
            return f"{self.host_ip}::{c}" if self.host_ip else c
        h = f"{self.host_ip}:{self.host_port}" if self.host_ip else str(self.host_port)
        return f"{h}:{c}"


@dataclass(frozen=True)
class HealthSpec:
    kind: Literal["http", "tcp", "docker", "none"] = "none"
    port: int | None = None  # container port to probe (http/tcp)
    path: str = "/"
    status: int = 200
    timeout: float = 60.0  # seconds until the gate gives up
    interval: float = 1.0  # seconds between probes


@dataclass(frozen=True)
class ContainerSpec:
    """One container a host must run, fully rendered for that host."""

    name: str
    image: str
    ports: tuple[PortSpec, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, Secret], ...] = ()
    volumes: tuple[str, ...] = ()  # docker -v syntax, e.g. "/srv/data:/data:ro"
    restart: str = "unless-stopped"
    command: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    stop_timeout: int = 10
    retain: int = 1  # previous versions kept for rollback
    health: HealthSpec = HealthSpec()


@dataclass(frozen=True)
class RegistryAuth:
    server: str | None = None  # None: Docker Hub
    username: str | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class HostConn:
    """How to reach one host, and its merged variables."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    password: Secret | None = None
    jump: str | None = None  # user@host[:port]
    known_hosts: tuple[str, ...] = ()
    state_dir: str = "/var/lib/deployer"  # locks and audit log on the host
    vars: dict[str, object] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Play:
    name: str
    hosts: tuple[HostConn, ...]  # in inventory order
    containers: dict[str, tuple[ContainerSpec, ...]]  # host name -> its containers
    serial: tuple[int | str, ...] = ()  # () means all at once; "30%" strings allowed
    max_fail_percentage: float | None = None
    registry: RegistryAuth | None = None
    source: str = ""  # "file:line" of the play, for messages


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple[Play, ...]
