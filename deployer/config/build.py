"""The `build:` block of a container: how its image is built (`deployer build`,
`deploy --build`). A string is the context alone; a mapping has `context`, `dockerfile`,
`args` and `target`. The context is relative to the playbook and must be a folder."""

from __future__ import annotations

import os
import re
from typing import Any

from deployer.config.health import Builder
from deployer.config.schema import type_name
from deployer.model import BuildSpec
from deployer.template.render import has_template

BUILD_KEYS = ("context", "dockerfile", "args", "target")
_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_build(b: Builder, base_dir: str) -> BuildSpec | None:
    raw, path = b.raw["build"], (*b.path, "build")
    if isinstance(raw, str):
        raw = {"context": raw}
        body_parent, body_key = b.raw, "build"
    elif isinstance(raw, dict):
        if not b.ctx.check_keys(raw, path, BUILD_KEYS, required=("context",)):
            b.ok = False
            return None
        body_parent, body_key = raw, "context"
    else:
        b.error(
            b.raw,
            "build",
            path,
            f"build must be a context folder or a mapping {{context, dockerfile, args, target}}, "
            f"not {type_name(raw)}",
            False,
        )
        return None
    cpath = path if body_parent is b.raw else (*path, "context")
    context = b.text(body_parent, body_key, cpath, "build context")
    if context is None:
        return None
    folder = os.path.normpath(os.path.join(base_dir, os.path.expanduser(context)))
    if not os.path.isdir(folder):
        b.error(
            body_parent,
            body_key,
            cpath,
            f"build context {context!r} is not a folder (looked for {folder}; relative to the "
            "playbook)",
            has_template(body_parent[body_key]),
        )
        return None
    dockerfile = "Dockerfile"
    if isinstance(b.raw["build"], dict) and "dockerfile" in raw:
        text = b.text(raw, "dockerfile", (*path, "dockerfile"), "dockerfile")
        if text is None:
            return None
        dockerfile = text
    if not os.path.isfile(os.path.join(folder, dockerfile)):
        where = (
            (raw, "dockerfile", (*path, "dockerfile"))
            if "dockerfile" in raw
            else (
                body_parent,
                body_key,
                cpath,
            )
        )
        b.error(*where, f"no {dockerfile} in the build context {folder}", False)
        return None
    args = _args(b, raw, path) if isinstance(b.raw["build"], dict) else ()
    target = None
    if isinstance(b.raw["build"], dict) and "target" in raw:
        target = b.text(raw, "target", (*path, "target"), "target")
        if target is not None and not _TARGET.match(target):
            b.error(
                raw, "target", (*path, "target"), f"target {target!r} is not a stage name", False
            )
            return None
    if args is None:
        return None
    return BuildSpec(folder, dockerfile, args, target)


def _args(b: Builder, raw: dict[Any, Any], path: Any) -> tuple[tuple[str, str], ...] | None:
    body = raw.get("args")
    if body is None:
        return ()
    apath = (*path, "args")
    if not isinstance(body, dict):
        b.error(
            raw, "args", apath, f"args must be a mapping NAME: value, not {type_name(body)}", False
        )
        return None
    out: list[tuple[str, str]] = []
    for key in body:
        if not isinstance(key, str) or not _ARG.match(key):
            b.error(
                body, key, (*apath, str(key)), f"build arg name {key!r} is invalid", False, True
            )
            return None
        value = b.value(body, key, (*apath, key))
        if isinstance(value, dict | list) or value is None:
            b.error(body, key, (*apath, key), f"build arg {key} must be a string or number", False)
            return None
        out.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return tuple(out)
