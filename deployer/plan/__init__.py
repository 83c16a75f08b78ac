"""Pure planning: desired containers vs what a host reports -> actions. No I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from deployer.model import (  # noqa: F401 - Observed, ImageInfo, Facts, image_key: re-exported for callers
    ContainerSpec,
    Facts,
    ImageInfo,
    Observed,
    image_key,
    secret_digest,
    spec_hash,
    spec_public,
)

Kind = Literal["noop", "create", "replace", "rollback", "restart", "stop", "start", "remove"]


@dataclass(frozen=True)
class Action:
    kind: Kind
    spec: ContainerSpec
    current: Observed | None
    changes: tuple[str, ...] = ()  # human lines: "image: a -> b", "ports: ..."
    target: Observed | None = None  # rollback: the retained version to bring back
    remove: tuple[Observed, ...] = ()  # remove: every container of the name (plan/lifecycle.py)

    @property
    def changed(self) -> bool:
        return self.kind != "noop"


def diff(spec: ContainerSpec, current: Observed) -> tuple[str, ...]:
    """Which public fields differ between the spec and the running container's recorded spec."""
    old = current.spec
    new = spec_public(spec)
    out = []
    gone = [k for k in old if k not in new and old[k] is not None]  # an option taken away
    for key in [*new, *gone]:
        before, value = old.get(key), new.get(key)
        if before == value:
            continue
        if key == "env" and isinstance(before, dict) and isinstance(value, dict):
            names = sorted(k for k in set(before) | set(value) if before.get(k) != value.get(k))
            out.append(f"env: {', '.join(names)} changed")
        else:
            out.append(f"{key}: {_short(before)} -> {_short(value)}")
    return tuple(out)


def privileged_mark(spec: ContainerSpec) -> list[str]:
    """A line that says a container being started is privileged (reports show it in red)."""
    return ["privileged: true (full access to the host)"] if spec.options.privileged else []


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def secret_changes(spec: ContainerSpec, facts: Facts, nonce: str) -> list[str]:
    """The secret keys whose value differs from what the live container runs with (names only)."""
    have = facts.secrets.get(spec.name, {})
    keys = [k for k, v in spec.secret_env if have.get(k) != secret_digest(nonce, v.reveal())]
    return [f"secret_env: {', '.join(keys)} changed"] if keys else []


def plan_host(
    specs: tuple[ContainerSpec, ...], facts: Facts, *, force: bool = False, nonce: str = ""
) -> list[Action]:
    """nonce: the one the host's secret digests were made with (see secret_digest_lines)."""
    actions = []
    for spec in specs:
        current = facts.live(spec.name)
        if current is None:
            actions.append(Action("create", spec, None, ("new container", *privileged_mark(spec))))
            continue
        changes: list[str] = []
        label = current.spec_hash
        if label != spec_hash(spec):
            changes = list(diff(spec, current)) or [
                "spec label from an earlier deployer (it held a digest of the secret values)"
                if len(label) == 32
                else "spec label differs"
            ]
        if not any(
            line.startswith("secret_env:") for line in changes
        ):  # names changed: said already
            changes += secret_changes(spec, facts, nonce)
        image = facts.images.get(image_key(spec.image))
        if image is not None and image.id != current.image_id and current.image == spec.image:
            changes.append(
                f"image: {spec.image} has a new build ({current.image_id[7:19]} -> {image.id[7:19]})"
            )
        if not current.running:
            changes.append(f"container is {current.status}")
        if not current.managed:
            changes.append("container not managed by deployer")
        if force and not changes:
            changes.append("--force")
        if changes and not any(line.startswith("privileged:") for line in changes):
            changes += privileged_mark(spec)
        actions.append(
            Action("replace" if changes else "noop", spec, current, tuple(dict.fromkeys(changes)))
        )
    return actions


def to_prune(
    spec: ContainerSpec, facts: Facts, keep_extra: str | None = None, exclude: str | None = None
) -> list[str]:
    """Ids of retained versions past `retain` (newest kept).

    keep_extra: an id just retired (now the newest retained); exclude: one now live again.
    """
    ids = [c.id for c in facts.previous(spec.name) if c.id != exclude]
    if keep_extra and keep_extra not in ids:
        ids.insert(0, keep_extra)
    return ids[spec.retain :] + [i for i in facts.never_ran(spec.name) if i != exclude]


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
    image = c.image.split("@", 1)[0]  # deploy --build pins repo:tag@digest: the tag still names it
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    if to in (c.image, image, tag):
        return True
    # an id prefix must be long enough not to match by accident
    return len(to) >= 4 and (
        c.id.startswith(to) or c.image_id.removeprefix("sha256:").startswith(to)
    )


OPERATIONS = ("restart", "stop", "start")


def plan_operation(
    specs: tuple[ContainerSpec, ...], facts: Facts, op: Kind, only: str | None = None
) -> list[Action]:
    """`restart`, `stop` or `start` of the live containers the playbook declares (or the one
    named): restart and stop what runs, start what is stopped; the rest is a no-op."""
    actions = []
    for spec in specs:
        if only is not None and spec.name != only:
            continue
        live = facts.live(spec.name)
        if live is None:
            actions.append(Action("noop", spec, None, ("not on this host",)))
        elif op == "start" and live.running:
            actions.append(Action("noop", spec, live, ("running already",)))
        elif op in ("restart", "stop") and not live.running:
            actions.append(Action("noop", spec, live, (f"not running ({live.status})",)))
        else:
            actions.append(Action(op, spec, live, (f"{op} {live.image}",)))
    return actions
