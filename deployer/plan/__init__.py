"""Pure planning: desired containers vs what a host reports -> actions. No I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from deployer.docker.commands import (
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
    MARK_CONTAINERS,
    MARK_IMAGES,
    MARK_SECRETS,
    secret_digest,
    spec_hash,
    spec_public,
)
from deployer.model import ContainerSpec


@dataclass(frozen=True)
class Observed:
    """One deployer-managed container as a host reported it."""

    id: str
    name: str
    image: str
    image_id: str
    labels: dict[str, str] = field(compare=False)
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
        return self.labels.get(LABEL_NAME, self.name)

    @property
    def is_live(self) -> bool:
        return self.name == self.logical_name

    @property
    def ever_ran(self) -> bool:
        """Docker reports a never-started container as `created` with a zero start time."""
        return not (self.status == "created" and (not self.started_at or self.started_at.startswith("0001-")))


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
        olds = [c for c in self.containers if not c.is_live and c.logical_name == name and c.ever_ran]
        return sorted(olds, key=lambda c: c.created, reverse=True)

    def never_ran(self, name: str) -> list[str]:
        """Ids of retained containers of `name` that never started (left by a failed start)."""
        return [c.id for c in self.containers if not c.is_live and c.logical_name == name and not c.ever_ran]


Kind = Literal["noop", "create", "replace", "rollback"]


@dataclass(frozen=True)
class Action:
    kind: Kind
    spec: ContainerSpec
    current: Observed | None
    changes: tuple[str, ...] = ()  # human lines: "image: a -> b", "ports: ..."
    target: Observed | None = None  # rollback: the retained version to bring back

    @property
    def changed(self) -> bool:
        return self.kind != "noop"


def parse_facts(stdout: str) -> Facts:
    """Read the output of facts_lines()/prepare_script(): JSON lines after the markers."""
    section = None
    containers: list[Observed] = []
    images: dict[str, ImageInfo] = {}
    by_id: dict[str, ImageInfo] = {}
    secrets: dict[str, dict[str, str]] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line in (MARK_CONTAINERS, MARK_IMAGES, MARK_SECRETS):
            section = line
            continue
        if section == MARK_SECRETS:
            parts = line.split(" ")
            if len(parts) == 3:
                secrets.setdefault(parts[0], {})[parts[1]] = parts[2]
            continue
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if section == MARK_CONTAINERS:
            containers.append(_observed(data))
        elif section == MARK_IMAGES:
            info = ImageInfo(id=data["id"], digests=tuple(data.get("digests") or ()))
            by_id[info.id] = info
            for tag in data.get("tags") or ():
                images.setdefault(tag, info)  # the spec's own images come first
    return Facts(containers, images, by_id, secrets)


def _observed(d: dict[str, Any]) -> Observed:
    return Observed(
        id=d["id"], name=d["name"].lstrip("/"), image=d.get("image") or "",
        image_id=d.get("image_id") or "", labels=d.get("labels") or {},
        status=d.get("status") or "", running=bool(d.get("running")),
        exit_code=int(d.get("exit_code") or 0), restarts=int(d.get("restarts") or 0),
        health=d.get("health"), created=d.get("created") or "",
        started_at=d.get("started_at") or "", ports=d.get("ports") or {}, ip=first_ip(d.get("ip") or ""),
    )


def first_ip(text: str) -> str:
    """The first address of `IP_FORMAT`'s output (a container on several networks has several)."""
    return next(iter(text.split()), "")


def image_key(ref: str) -> str:
    """How docker lists a reference in RepoTags (an implicit :latest made explicit)."""
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in ref) else f"{ref}:latest"


def diff(spec: ContainerSpec, current: Observed) -> tuple[str, ...]:
    """Which public fields differ between the spec and the running container's recorded spec."""
    try:
        old = json.loads(current.labels.get(LABEL_SPEC, "{}"))
    except ValueError:
        old = {}
    new = spec_public(spec)
    out = []
    for key, value in new.items():
        before = old.get(key)
        if before == value:
            continue
        if key == "env" and isinstance(before, dict) and isinstance(value, dict):
            names = sorted(k for k in set(before) | set(value) if before.get(k) != value.get(k))
            out.append(f"env: {', '.join(names)} changed")
        else:
            out.append(f"{key}: {_short(before)} -> {_short(value)}")
    return tuple(out)


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def secret_changes(spec: ContainerSpec, facts: Facts, nonce: str) -> list[str]:
    """The secret keys whose value differs from what the live container runs with (names only)."""
    have = facts.secrets.get(spec.name, {})
    keys = [k for k, v in spec.secret_env if have.get(k) != secret_digest(nonce, v.reveal())]
    return [f"secret_env: {', '.join(keys)} changed"] if keys else []


def plan_host(specs: tuple[ContainerSpec, ...], facts: Facts, *, force: bool = False,
              nonce: str = "") -> list[Action]:
    """nonce: the one the host's secret digests were made with (see secret_digest_lines)."""
    actions = []
    for spec in specs:
        current = facts.live(spec.name)
        if current is None:
            actions.append(Action("create", spec, None, ("new container",)))
            continue
        changes: list[str] = []
        label = current.labels.get(LABEL_SPEC_HASH) or ""
        if label != spec_hash(spec):
            changes = list(diff(spec, current)) or [
                "spec label from an earlier deployer (it held a digest of the secret values)"
                if len(label) == 32 else "spec label differs"]
        if not any(line.startswith("secret_env:") for line in changes):  # names changed: said already
            changes += secret_changes(spec, facts, nonce)
        image = facts.images.get(image_key(spec.image))
        if image is not None and image.id != current.image_id and current.image == spec.image:
            changes.append(f"image: {spec.image} has a new build ({current.image_id[7:19]} -> {image.id[7:19]})")
        if not current.running:
            changes.append(f"container is {current.status}")
        if current.labels.get(LABEL_MANAGED) != "true":
            changes.append("container not managed by deployer")
        if force and not changes:
            changes.append("--force")
        actions.append(Action("replace" if changes else "noop", spec, current, tuple(dict.fromkeys(changes))))
    return actions


def to_prune(spec: ContainerSpec, facts: Facts, keep_extra: str | None = None,
             exclude: str | None = None) -> list[str]:
    """Ids of retained versions past `retain` (newest kept).

    keep_extra: an id just retired (now the newest retained); exclude: one now live again.
    """
    ids = [c.id for c in facts.previous(spec.name) if c.id != exclude]
    if keep_extra and keep_extra not in ids:
        ids.insert(0, keep_extra)
    return ids[spec.retain:] + [i for i in facts.never_ran(spec.name) if i != exclude]


def plan_rollback(specs: tuple[ContainerSpec, ...], facts: Facts, to: str | None) -> list[Action]:
    """Bring back the newest retained version of each container (or the one matching `to`)."""
    actions = []
    for spec in specs:
        olds = facts.previous(spec.name)
        if to is not None:
            olds = [c for c in olds if _matches(c, to)]
        target = olds[0] if olds else None
        live = facts.live(spec.name)
        if target is None:
            why = f"no retained version matching {to!r}" if to else "no retained previous version"
            actions.append(Action("noop", spec, live, (why,)))
            continue
        what = f"image: {live.image if live else '(none)'} -> {target.image}"
        actions.append(Action("rollback", spec, live, (what,), target))
    return actions


def _matches(c: Observed, to: str) -> bool:
    tag = c.image.rsplit(":", 1)[-1] if ":" in c.image.rsplit("/", 1)[-1] else ""
    if to in (c.image, tag):
        return True
    # an id prefix must be long enough not to match by accident
    return len(to) >= 4 and (c.id.startswith(to) or c.image_id.removeprefix("sha256:").startswith(to))


def probe_target(spec: ContainerSpec, ports: dict[str, Any] | None, ip: str) -> tuple[str, int]:
    """Where the host reaches the health port: the container's own address and port.

    Never the published port when the address is known: docker-proxy accepts connections
    on it even when nothing in the container listens. Only a container without an address
    of its own (e.g. `--network host`) is probed through a published port, if any.
    """
    health = spec.health
    assert health.port is not None
    if ip:
        return (ip, health.port)
    for p in spec.ports:
        if p.container_port == health.port and p.protocol == "tcp" and p.host_port:
            return (p.host_ip if p.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1", p.host_port)
    for binding in (ports or {}).get(f"{health.port}/tcp") or []:
        if isinstance(binding, dict) and binding.get("HostPort"):
            addr = binding.get("HostIp") or ""
            return (addr if addr not in ("", "0.0.0.0", "::") else "127.0.0.1", int(binding["HostPort"]))
    return (ip, health.port)
