"""A container's lifecycle keys: `state` (present | absent), `replace` (always | on_change |
never) and `depends_on` (names of its play started before it on its host). None of them is
part of the spec hash: changing one never replaces a container by itself.

A container with `state: absent` needs only its name: it is removed (with its retained
versions) wherever its play runs; the plan (plan/lifecycle.py) says what that means.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from deployer.config.health import Builder
from deployer.config.schema import MISSING, Ctx, Path, type_name
from deployer.model import ContainerSpec
from deployer.source.problems import did_you_mean
from deployer.template.render import has_template

LIFECYCLE_KEYS = ("state", "replace", "depends_on")
STATES = ("present", "absent")
REPLACE = ("always", "on_change", "never")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # a container name (config/containers.py)
MISSING_IMAGE = (
    "missing required key 'image' (only a container with state: absent may leave it out)"
)

State = Literal["present", "absent"]
Replace = Literal["always", "on_change", "never"]


@dataclass(frozen=True)
class Lifecycle:
    state: State = "present"
    replace: Replace = "always"
    depends_on: tuple[str, ...] = ()


def parse_lifecycle(b: Builder) -> Lifecycle:
    """The lifecycle keys of the container B checks; problems go to B."""
    state = _choice(b, "state", STATES) or "present"
    replace = _choice(b, "replace", REPLACE) or "always"
    return Lifecycle(
        state="absent" if state == "absent" else "present",
        replace="never"
        if replace == "never"
        else "on_change"
        if replace == "on_change"
        else "always",
        depends_on=_depends_on(b),
    )


def _choice(b: Builder, key: str, allowed: tuple[str, ...]) -> str | None:
    if b.raw.get(key) is None:
        return None
    path = (*b.path, key)
    text = b.text(b.raw, key, path, key)
    if text is None:
        return None
    if text not in allowed:
        b.error(
            b.raw,
            key,
            path,
            f"{key} must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {text!r}",
            has_template(b.raw[key]),
        )
        return None
    return text


def _depends_on(b: Builder) -> tuple[str, ...]:
    if b.raw.get("depends_on") is None:
        return ()
    path = (*b.path, "depends_on")
    value = b.value(b.raw, "depends_on", path)
    if value is MISSING:
        return ()
    templated = has_template(b.raw["depends_on"])
    if not isinstance(value, list):
        b.error(
            b.raw,
            "depends_on",
            path,
            f"depends_on must be a list of container names, not {type_name(value)}",
            templated,
        )
        return ()
    # the items' own positions when the list is written out (a template: the key's)
    parent: Any = b.raw["depends_on"] if isinstance(b.raw["depends_on"], list) else None
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _NAME.match(name):
            where: tuple[Any, Any] = (parent, i) if parent is not None else (b.raw, "depends_on")
            b.error(
                *where,
                (*path, i),
                f"depends_on: {name!r} is not a container name",
                templated or has_template(name),
            )
            continue
        out.append(name)
    return tuple(out)


def missing_image(ctx: Ctx, raw: dict[Any, Any], path: Path, host: str | None) -> None:
    """A present container without `image`: said at the container, with what would make it
    fine (host: the host it was rendered for, when `state` is a template)."""
    ctx.problems.add(ctx.doc.file, ctx.doc.own(raw), path, MISSING_IMAGE, host)


def absent_spec(name: str, image: str | None, raw_stop_timeout: int) -> ContainerSpec:
    """What a container with state: absent stands for: its name (and image, if given, for
    reports); nothing else of it is started, bound, routed or built."""
    return ContainerSpec(
        name=name, image=image or "", stop_timeout=raw_stop_timeout, state="absent"
    )


def check_depends(
    ctx: Ctx,
    items: list[Any],
    cpath: Path,
    specs: list[ContainerSpec],
    index: dict[str, int],
    host: str,
) -> None:
    """depends_on names a container of the same play on the same host that is present, and
    makes no cycle. Each problem at its file:line:key (index: name -> position in items)."""
    by_name = {s.name: s for s in specs}
    # a container that failed its own checks is no spec: names are only known when all are
    complete = len(specs) == sum(1 for i in items if isinstance(i, dict))
    for spec in specs:
        j = index[spec.name]
        raw = items[j].get("depends_on")
        tag = host if host and _templated(items[j]) else None
        for k, dep in enumerate(spec.depends_on):
            other = by_name.get(dep)
            if (other is not None and other.state == "present") or (other is None and not complete):
                continue
            message = (
                f"depends_on: {dep} has state: absent (it is removed, nothing can wait for it)"
                if other is not None
                else f"depends_on: no container named {dep!r} in this play on this host"
                + (did_you_mean(dep, [s.name for s in specs if s.name != spec.name]) or "")
            )
            parent, key = (raw, k) if isinstance(raw, list) else (items[j], "depends_on")
            ctx.error(parent, key, (*cpath, j, "depends_on", k), message, host=tag)
    for cycle in _cycles(specs, index):
        first = by_name[cycle[0]]
        j = index[first.name]
        tag = host if host and _templated(items[j]) else None
        ctx.error(
            items[j],
            "depends_on",
            (*cpath, j, "depends_on"),
            f"depends_on makes a cycle: {' -> '.join([*cycle, cycle[0]])}",
            host=tag,
        )


def _templated(item: dict[Any, Any]) -> bool:
    return has_template(json.dumps([item.get("name"), item.get("depends_on")], default=str))


def _cycles(specs: list[ContainerSpec], index: dict[str, int]) -> list[list[str]]:
    """One cycle per group of containers that wait on each other (a strongly connected
    component), starting at its container written first. Linear in the names."""
    deps = {s.name: [d for d in s.depends_on if d in index] for s in specs if s.state == "present"}
    deps = {n: [d for d in ds if d in deps] for n, ds in deps.items()}
    found = []
    for group in _components(deps):
        start = min(group, key=lambda n: index[n])
        if len(group) == 1 and start not in deps[start]:
            continue
        found.append(_cycle_through(start, deps, group))
    return sorted(found, key=lambda c: index[c[0]])


def _components(deps: dict[str, list[str]]) -> list[set[str]]:
    """Kosaraju's strongly connected components, iteratively."""
    order: list[str] = []
    seen: set[str] = set()
    for root in deps:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(deps[root]))]
        while stack:
            node, rest = stack[-1]
            nxt = next((d for d in rest if d not in seen), None)
            if nxt is None:
                stack.pop()
                order.append(node)
            else:
                seen.add(nxt)
                stack.append((nxt, iter(deps[nxt])))
    back: dict[str, list[str]] = {n: [] for n in deps}
    for n, ds in deps.items():
        for d in ds:
            back[d].append(n)
    groups: list[set[str]] = []
    done: set[str] = set()
    for root in reversed(order):
        if root in done:
            continue
        group, todo = set(), [root]
        done.add(root)
        while todo:
            node = todo.pop()
            group.add(node)
            for prev in back[node]:
                if prev not in done:
                    done.add(prev)
                    todo.append(prev)
        groups.append(group)
    return groups


def _cycle_through(start: str, deps: dict[str, list[str]], group: set[str]) -> list[str]:
    """The shortest way from START back to itself inside its group (breadth first)."""
    parent: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for dep in deps[node]:
            if dep == start:
                trail = [node]
                while trail[-1] != start:
                    trail.append(parent[trail[-1]])
                return list(reversed(trail))
            if dep in group and dep not in parent:
                parent[dep] = node
                todo.append(dep)
    return [start]
