"""User-defined networks: `networks:` on a play (what each of its hosts must have) and on a
container (which of them it joins, with aliases). Containers on one such network reach each
other by container name (Docker's DNS), which is how an app finds its database."""

from __future__ import annotations

import re
from typing import Any

from deployer.config.schema import Ctx, Path, type_name
from deployer.model import PROXY_NETWORK, NetworkAttach, NetworkSpec

PLAY_NETWORK_KEYS = ("driver", "options", "internal", "external")
ATTACH_KEYS = ("name", "aliases")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_DRIVER = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9_.-]+)*(:[a-z0-9_.-]+)?$")
_OPTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ALIAS = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
# docker's own networks and the proxy's: a container joins those by other means
RESERVED = ("bridge", "host", "none", "default", PROXY_NETWORK)


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"network name {name!r} is invalid: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 63)"
        )
    if name in RESERVED:
        return f"network name {name!r} is reserved ({', '.join(RESERVED)})"
    return None


def parse_play_networks(ctx: Ctx, raw: dict[Any, Any], path: Path) -> tuple[NetworkSpec, ...]:
    """`networks:` on a play: a list of names, or a mapping name -> {driver, options,
    internal, external} (an empty value: a bridge network)."""
    body = raw.get("networks")
    npath = (*path, "networks")
    if body is None:
        return ()
    if isinstance(body, list):
        body = {name: None for name in body} if all(isinstance(n, str) for n in body) else body
    if not isinstance(body, dict):
        ctx.error(
            raw,
            "networks",
            npath,
            f"networks must be a list of names or a mapping NAME: {{driver: ...}}, "
            f"not {type_name(body)}",
        )
        return ()
    out: list[NetworkSpec] = []
    for name, spec in body.items():
        problem = _name_problem(name)
        if problem:
            ctx.error(raw["networks"], name, (*npath, str(name)), problem, at_key=True)
            continue
        parsed = _play_network(ctx, body, str(name), spec, (*npath, str(name)))
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def _play_network(
    ctx: Ctx, parent: dict[Any, Any], name: str, spec: Any, path: Path
) -> NetworkSpec | None:
    if spec is None:
        return NetworkSpec(name)
    if not isinstance(spec, dict):
        ctx.error(parent, name, path, f"network {name} must be a mapping, not {type_name(spec)}")
        return None
    if not ctx.check_keys(spec, path, PLAY_NETWORK_KEYS):
        return None
    driver = spec.get("driver", "bridge")
    if not isinstance(driver, str) or not _DRIVER.match(driver):
        ctx.error(spec, "driver", (*path, "driver"), f"driver {driver!r} is not a driver name")
        return None
    flags = {}
    for key in ("internal", "external"):
        value = spec.get(key, False)
        if not isinstance(value, bool):
            ctx.error(spec, key, (*path, key), f"{key} must be true or false, not {value!r}")
            return None
        flags[key] = value
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        ctx.error(
            spec,
            "options",
            (*path, "options"),
            f"options must be a mapping, not {type_name(options)}",
        )
        return None
    opts: list[tuple[str, str]] = []
    for key, value in options.items():
        text = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
        if (
            not isinstance(key, str)
            or not _OPTION.match(key)
            or not text.isprintable()
            or isinstance(value, dict | list)
        ):
            ctx.error(options, key, (*path, "options", str(key)), f"invalid network option {key!r}")
            return None
        opts.append((key, text))
    if flags["external"] and (opts or "driver" in spec or flags["internal"]):
        ctx.error(
            parent,
            name,
            path,
            f"network {name} is external (made elsewhere): driver, options and internal are "
            "not deployer's to set",
        )
        return None
    return NetworkSpec(
        name, driver, tuple(opts), flags["internal"], flags["external"], "driver" in spec
    )


def parse_attach(ctx: Ctx, raw: dict[Any, Any], path: Path) -> tuple[NetworkAttach, ...] | None:
    """`networks:` on a container: names, or {name, aliases} mappings. None after a problem."""
    body = raw.get("networks")
    npath = (*path, "networks")
    if body is None:
        return ()
    if not isinstance(body, list):
        ctx.error(raw, "networks", npath, f"networks must be a list, not {type_name(body)}")
        return None
    out: list[NetworkAttach] = []
    ok = True
    for i, item in enumerate(body):
        attach = _attach(ctx, body, i, item, (*npath, i))
        if attach is None:
            ok = False
        elif any(a.name == attach.name for a in out):
            ctx.error(body, i, (*npath, i), f"network {attach.name} is listed twice")
            ok = False
        else:
            out.append(attach)
    return tuple(out) if ok else None


def _attach(ctx: Ctx, parent: list[Any], i: int, item: Any, path: Path) -> NetworkAttach | None:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        ctx.error(
            parent, i, path, f"a network must be a name or {{name, aliases}}, not {type_name(item)}"
        )
        return None
    if not ctx.check_keys(item, path, ATTACH_KEYS, required=("name",)):
        return None
    problem = _name_problem(item["name"])
    if problem:
        ctx.error(item, "name", (*path, "name"), problem)
        return None
    aliases = item.get("aliases") or []
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and _ALIAS.match(a) for a in aliases
    ):
        ctx.error(
            item,
            "aliases",
            (*path, "aliases"),
            f"aliases must be a list of DNS labels (letters, digits, '-'), not {aliases!r}",
        )
        return None
    return NetworkAttach(item["name"], tuple(aliases))


def check_declared(
    ctx: Ctx,
    item: dict[Any, Any],
    path: Path,
    attached: tuple[NetworkAttach, ...],
    play: dict[Any, Any],
    proxied: bool,
) -> None:
    """A container joins only networks its play declares (however well: a bad declaration
    is its own problem); a proxied one takes no alias (the new version would answer for it
    next to the live one during its health gate)."""
    body = play.get("networks")
    names = {str(n) for n in (body if isinstance(body, dict | list) else ())}
    for i, attach in enumerate(attached):
        ipath = (*path, "networks", i)
        if attach.name not in names:
            ctx.error(
                item["networks"],
                i,
                ipath,
                f"network {attach.name} is not declared by the play: add it to the play's "
                f"networks ({', '.join(sorted(names)) or 'none declared'})",
            )
        elif proxied and attach.aliases:
            ctx.error(
                item["networks"],
                i,
                ipath,
                "a container behind the proxy takes no network alias: during a rollout its "
                "new version runs next to the live one, and an alias would send other "
                "containers' requests to it before it passed its health check; use the "
                "container's name",
            )
