"""Desired state: the plain data that flows from config/ to plan/, docker/ and engine/.

Everything here is immutable and free of I/O. Secret values travel as `Secret`,
whose repr and str never show the value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal


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
class ProxySpec:
    """A container served through the host's reverse proxy instead of its own host port."""

    port: int  # the port the app listens on inside its container
    host: str | None = None  # route by Host header (None: any host)
    path: str = "/"  # path prefix
    drain: float = 30.0  # seconds in-flight requests on the old version may take to finish


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
    proxy: ProxySpec | None = None
    networks: tuple[NetworkAttach, ...] = ()  # user-defined networks it joins, in order
    build: BuildSpec | None = None  # how its image is built (not part of what it runs)
    options: RunOptions = field(default_factory=lambda: RunOptions())  # more `docker run` flags
    # lifecycle (config/lifecycle.py, plan/lifecycle.py); none of them is in the spec hash
    state: Literal["present", "absent"] = "present"  # absent: removed with its retained versions
    replace: Literal["always", "on_change", "never"] = "always"  # when a changed one is replaced
    depends_on: tuple[str, ...] = ()  # containers of its play on its host started before it
    swarm: SwarmSpec | None = None  # a play with `target: swarm`: how it runs as a service


@dataclass(frozen=True)
class SwarmSpec:
    """What a container of a `target: swarm` play says of its Swarm service (`swarm:`)."""

    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = 1
    publish: Literal["ingress", "host"] = "ingress"  # how its `ports:` are published
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    monitor: float = 5.0  # seconds a new task is watched before the next batch
    update_delay: float = 0.0  # seconds between batches
    timeout: float = 300.0  # seconds `deploy` waits for the update to converge


PullPolicy = Literal["always", "missing", "never"]


@dataclass(frozen=True)
class LogConfig:
    """`log:` of a container: docker's --log-driver and its --log-opt KEY=VALUE."""

    driver: str = "json-file"
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunOptions:
    """More `docker run` flags (config/options.py reads them, docker/options.py writes them).

    Each holds docker's own text in canonical form (sizes "512m", caps "CAP_NET_ADMIN",
    ulimits "nofile=1024:2048"); None / () / False mean "not set": docker's default.
    """

    memory: str | None = None
    memory_reservation: str | None = None
    shm_size: str | None = None
    cpus: str | None = None  # a decimal, e.g. "1.5"
    cpu_shares: int | None = None
    user: str | None = None
    workdir: str | None = None
    entrypoint: tuple[str, ...] | None = None  # () resets the image's entrypoint
    hostname: str | None = None
    extra_hosts: tuple[str, ...] = ()  # "host:ip"
    dns: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only: bool = False
    tmpfs: tuple[str, ...] = ()  # "/path[:options]"
    ulimits: tuple[str, ...] = ()  # "name=soft:hard"
    init: bool | None = None  # None: the daemon's default
    devices: tuple[str, ...] = ()
    gpus: str | None = None
    privileged: bool = False
    log: LogConfig | None = None  # None: docker/options.py's bounded json-file default
    pull: PullPolicy = "always"  # how, not what: never part of the spec hash


@dataclass(frozen=True)
class BuildSpec:
    """How a container's image is built (`build:`): a folder on the controller."""

    context: str  # absolute path
    dockerfile: str = "Dockerfile"  # relative to the context
    args: tuple[tuple[str, str], ...] = ()
    target: str | None = None


PROXY_NETWORK = "deployer"  # the network proxied containers share with the host's proxy


@dataclass(frozen=True)
class NetworkSpec:
    """A user-defined network a play declares (`networks:` on the play): created on each of
    its hosts when missing, never removed by deployer."""

    name: str
    driver: str = "bridge"
    options: tuple[tuple[str, str], ...] = ()  # docker network create --opt KEY=VALUE
    internal: bool = False  # no route out of the host
    external: bool = False  # made elsewhere: must exist, deployer never creates it
    # `driver:` written in the play (else bridge, for creating it; an existing network's
    # driver is then not compared)
    driver_given: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class NetworkAttach:
    """One network a container joins (`networks:` on the container), with its aliases."""

    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProxyHost:
    """The host's reverse proxy (host variables deployer_proxy_*)."""

    image: str = "caddy:2"
    http_port: int = 80
    https_port: int = 443
    tls_cert: str | None = None  # controller-side files; with both, the proxy serves HTTPS
    tls_key: str | None = None


@dataclass(frozen=True)
class RegistryAuth:
    server: str | None = None  # None: Docker Hub
    username: str | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class Become:
    """Ansible's become: run each remote script as `user` through `method` (sudo). The
    password, when the rule asks for one, goes to `sudo -S` on stdin, never on a command line."""

    user: str = "root"
    method: str = "sudo"
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
    proxy: ProxyHost = ProxyHost()
    vars: dict[str, object] = field(default_factory=dict, compare=False, hash=False, repr=False)
    become: Become | None = None  # None: every script runs as `user`
    # deployer_engine_api: auto (the Engine API over the SSH connection when the host's
    # engine is a unix socket it may use) or off (the docker CLI on the host)
    engine_api: Literal["auto", "off"] = "auto"


@dataclass(frozen=True)
class Play:
    name: str
    hosts: tuple[HostConn, ...]  # in inventory order
    containers: dict[str, tuple[ContainerSpec, ...]]  # host name -> its containers
    serial: tuple[int | str, ...] = ()  # () means all at once; "30%" strings allowed
    max_fail_percentage: float | None = None
    registry: RegistryAuth | None = None
    source: str = ""  # "file:line" of the play, for messages
    networks: tuple[NetworkSpec, ...] = ()
    target: Literal["hosts", "swarm"] = "hosts"  # swarm: `hosts` name the managers


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple[Play, ...]


# -- what a spec is, whoever records it -----------------------------------------------------


def spec_public(spec: ContainerSpec) -> dict[str, object]:
    """The spec's fields as shown in labels and diffs: secret names, never values."""
    return {
        "image": spec.image,
        "ports": sorted(p.to_docker() for p in spec.ports),
        "env": dict(spec.env),
        "secret_env": sorted(k for k, _ in spec.secret_env),
        "volumes": list(spec.volumes),
        "restart": spec.restart,
        "command": list(spec.command) if spec.command is not None else None,
        "labels": dict(spec.labels),
        "stop_timeout": spec.stop_timeout,
        # only when set: the hashes of containers without a proxy stay what they were
        **({"proxy": proxy_public(spec.proxy)} if spec.proxy else {}),
        **({"networks": [networks_public(n) for n in spec.networks]} if spec.networks else {}),
        **options_public(spec.options),
    }


def options_public(o: RunOptions) -> dict[str, object]:
    """The options that are set, as JSON values: an unset one is not there at all, so the
    hashes of containers that use none of them stay what they were. `pull` is never in it
    (how the image arrives, not what runs); the default log config is not either."""
    out: dict[str, object] = {}
    for name, value in o.__dict__.items():
        # init: false is said (--init=false beats a daemon's "init": true); entrypoint: [] too
        unset = value is None or (value is False and name != "init")
        unset = unset or (value == () and name != "entrypoint")
        if name == "pull" or unset:
            continue
        if isinstance(value, tuple):
            out[name] = list(value)
        elif isinstance(value, LogConfig):
            out[name] = {"driver": value.driver, "options": dict(value.options)}
        else:
            out[name] = value
    return out


def spec_marks(spec: ContainerSpec) -> dict[str, object]:
    """Fields an audit record carries to stand out: {"privileged": True} for a privileged
    container (the whole host is its), else nothing."""
    return {"privileged": True} if spec.options.privileged else {}


def proxy_public(proxy: ProxySpec) -> dict[str, object]:
    return {"port": proxy.port, "host": proxy.host, "path": proxy.path, "drain": proxy.drain}


def networks_public(n: NetworkAttach) -> dict[str, object]:
    return {"name": n.name, "aliases": list(n.aliases)}


def proxy_from_public(raw: object) -> ProxySpec | None:
    """proxy_public's inverse (a container's recorded spec); None if not a proxy spec."""
    if not isinstance(raw, dict):
        return None
    try:
        return ProxySpec(
            port=int(raw["port"]),
            host=raw.get("host") or None,
            path=str(raw.get("path") or "/"),
            drain=float(raw.get("drain") or 30),
        )
    except (KeyError, TypeError, ValueError):
        return None


def spec_hash(spec: ContainerSpec) -> str:
    """Changes whenever the public spec changes. Secret values are NOT in it: a label
    must not let anyone check guesses of a secret offline. Their changes are found by
    `secret_digest_lines` with a fresh nonce each run instead.
    """
    data = spec_public(spec)
    return "p1-" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def secret_digest(nonce: str, value: str) -> str:
    """What `secret_digest_lines` prints for one value: sha256 of the run's nonce + the value."""
    return hashlib.sha256((nonce + value).encode()).hexdigest()


def image_key(ref: str) -> str:
    """How docker lists a reference: in RepoTags (an implicit :latest made explicit), or,
    pinned to a digest, in RepoDigests (`repo@sha256:...`, without the tag)."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        head, _, last = name.rpartition("/")
        return f"{head + '/' if head else ''}{last.split(':', 1)[0]}@{digest}"
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


# -- what a host reports (plain data; docker/facts.py parses it) ------------------------------


@dataclass(frozen=True)
class Observed:
    """One deployer-managed container as a host reported it."""

    id: str
    name: str
    image: str
    image_id: str
    labels: dict[str, str] = field(compare=False)
    logical: str = ""  # the container name it stands for (its deployer.name label)
    managed: bool = False  # deployer started it (deployer.managed label)
    spec_hash: str = ""  # its recorded spec hash ("" if none)
    spec: dict[str, Any] = field(default_factory=dict, compare=False)  # its recorded public spec
    status: str = "created"
    running: bool = False
    exit_code: int = 0
    restarts: int = 0
    health: str | None = None
    created: str = ""
    started_at: str = ""
    ports: dict[str, Any] = field(default_factory=dict, compare=False)
    ip: str = ""

    @property
    def logical_name(self) -> str:
        return self.logical or self.name

    @property
    def is_live(self) -> bool:
        return self.name == self.logical_name

    @property
    def ever_ran(self) -> bool:
        """Docker reports a never-started container as `created` with a zero start time."""
        return not (
            self.status == "created"
            and (not self.started_at or self.started_at.startswith("0001-"))
        )


@dataclass(frozen=True)
class ImageInfo:
    id: str
    digests: tuple[str, ...] = ()

    @property
    def digest(self) -> str | None:
        return self.digests[0].split("@", 1)[1] if self.digests else None


@dataclass
class Facts:
    containers: list[Observed]
    images: dict[str, ImageInfo]  # image reference -> local image
    by_id: dict[str, ImageInfo] = field(default_factory=dict)  # image id -> local image
    # live container name -> secret key -> sha256(run nonce + the value it runs with)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    def live(self, name: str) -> Observed | None:
        return next((c for c in self.containers if c.is_live and c.logical_name == name), None)

    def previous(self, name: str) -> list[Observed]:
        """Retained older versions of `name`, newest first: only containers that once ran."""
        olds = [
            c
            for c in self.containers
            if not c.is_live
            and c.logical_name == name
            and c.ever_ran
            # a new version never switched to (proxy mode) keeps its temporary name: unproven
            and not c.name.startswith(f"{name}_next_")
        ]
        return sorted(olds, key=lambda c: c.created, reverse=True)

    def never_ran(self, name: str) -> list[str]:
        """Ids of retained containers of `name` that never started (left by a failed start)."""
        return [
            c.id
            for c in self.containers
            if not c.is_live and c.logical_name == name and not c.ever_ran
        ]


def same_image(running: str, wanted: str) -> bool:
    """Does a container running `running` run what the playbook's `wanted` names? Yes when
    equal, and when `running` is `wanted` pinned to a digest by `deploy --build`
    (`repo:tag@sha256:...` for `repo` or `repo:tag`)."""
    if running == wanted:
        return True
    if "@" not in running or "@" in wanted:
        return False

    def split(ref: str) -> tuple[str, str | None]:
        head, _, last = ref.rpartition("/")
        name, _, tag = last.partition(":")
        return (f"{head}/{name}" if head else name), (tag or None)

    repo, tag = split(running.split("@", 1)[0])
    want_repo, want_tag = split(wanted)
    return repo == want_repo and want_tag in (None, tag)
