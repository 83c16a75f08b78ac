"""`target: swarm` on a play and `swarm:` on its containers: checked, with file:line.

A swarm play's `hosts` name the swarm's managers (deployer talks to the first one it
reaches); each container becomes one Swarm service. What a service cannot be (a container
behind the host's proxy, a lifecycle of its own, `docker run` flags the service spec does
not carry here) is refused where it is written, not silently dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, cast

from deployer.config.options import OPTION_KEYS
from deployer.config.schema import Ctx, Path, shown, type_name
from deployer.config.values import parse_duration
from deployer.model import ContainerSpec, SwarmSpec

TARGETS = ("hosts", "swarm")
SWARM_KEYS = ("mode", "replicas", "publish", "endpoint_mode", "monitor", "update_delay", "timeout")
# container keys a swarm service does not take (yet): said where they are written
NOT_ON_SWARM = {
    "proxy": "a service publishes its own ports (ports: with swarm.publish)",
    "networks": "services join the swarm's networks; not yet supported",
    "retain": "Swarm keeps the previous spec itself (`rollback` brings it back)",
    "state": "remove a service with `docker service rm`; not yet supported",
    "replace": "Swarm decides from the spec",
    "depends_on": "services start independently",
    **{k: "not yet mapped to the service spec" for k in OPTION_KEYS if k != "pull"},
}
_CHOICES = {
    "mode": ("replicated", "global"),
    "publish": ("ingress", "host"),
    "endpoint_mode": ("vip", "dnsrr"),
}


def parse_target(ctx: Ctx, raw: dict[Any, Any], path: Path) -> Literal["hosts", "swarm"]:
    value = raw.get("target", "hosts")
    if value not in TARGETS:
        ctx.error(
            raw,
            "target",
            (*path, "target"),
            f"target must be one of {', '.join(TARGETS)}, not {shown(value)}",
        )
        return "hosts"
    return cast(Literal["hosts", "swarm"], value)


def attach(
    ctx: Ctx,
    raw: dict[Any, Any],
    path: Path,
    target: str,
    containers: dict[str, tuple[ContainerSpec, ...]],
) -> dict[str, tuple[ContainerSpec, ...]]:
    """Each container of a swarm play with its SwarmSpec; `swarm:` anywhere else, or a key a
    service cannot take, is a problem."""
    items = raw.get("containers")
    if not isinstance(items, list):
        return containers
    cpath = (*path, "containers")
    specs: dict[str, SwarmSpec] = {}
    for j, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if target != "swarm":
            if "swarm" in item:
                ctx.error(
                    item,
                    "swarm",
                    (*cpath, j, "swarm"),
                    "swarm: is for a play with `target: swarm`",
                    at_key=True,
                )
            continue
        for key, why in NOT_ON_SWARM.items():
            if key in item:
                ctx.error(
                    item, key, (*cpath, j, key), f"{key}: not on a swarm play: {why}", at_key=True
                )
        name = item.get("name")
        if isinstance(name, str):
            specs[name] = parse_swarm(ctx, item, (*cpath, j, "swarm"))
    if target != "swarm":
        return containers
    return {
        host: tuple(dataclasses.replace(c, swarm=specs.get(c.name, SwarmSpec())) for c in cs)
        for host, cs in containers.items()
    }


def parse_swarm(ctx: Ctx, item: dict[Any, Any], path: Path) -> SwarmSpec:
    body = ctx.mapping(item, "swarm", path, "swarm")
    if not body:
        return SwarmSpec()
    ctx.check_keys(body, path, SWARM_KEYS)
    out: dict[str, Any] = {}
    for key, choices in _CHOICES.items():
        if key in body:
            if body[key] in choices:
                out[key] = body[key]
            else:
                ctx.error(
                    body,
                    key,
                    (*path, key),
                    f"{key} must be one of {', '.join(choices)}, not {shown(body[key])}",
                )
    if "replicas" in body:
        n = body["replicas"]
        if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 1000:
            out["replicas"] = n
        else:
            ctx.error(
                body,
                "replicas",
                (*path, "replicas"),
                f"replicas must be a whole number from 0 to 1000, not {shown(n)}",
            )
        if out.get("mode") == "global":
            ctx.error(
                body,
                "replicas",
                (*path, "replicas"),
                "replicas: a global service runs one "
                "task per node; leave replicas out or use mode: replicated",
            )
    for key in ("monitor", "update_delay", "timeout"):
        if key == "update_delay" and body.get(key) in (0, "0", "0s"):
            out[key] = 0.0
        elif key in body:
            try:
                out[key] = parse_duration(body[key])
            except ValueError as err:
                ctx.error(body, key, (*path, key), f"{key}: {err}")
    if any(not isinstance(k, str) for k in body):
        ctx.error(item, "swarm", path, f"swarm keys must be strings, not {type_name(list(body))}")
    return SwarmSpec(**out)
