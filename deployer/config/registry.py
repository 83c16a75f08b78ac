"""A play's `registry:` block: server, username, and a password from a source, never inline."""

from __future__ import annotations

import re
from typing import Any

from deployer.config.schema import Ctx, Path, secret_from_env, secret_from_file, type_name
from deployer.model import RegistryAuth, Secret
from deployer.template.render import Renderer, TemplateError

REGISTRY_KEYS = ("server", "username", "password_env", "password_file")
_SERVER = re.compile(r"^(?:https?://)?[A-Za-z0-9.\-\[\]:]+(?::[0-9]+)?(?:/\S*)?$")


def parse_registry(
    ctx: Ctx,
    raw: dict[Any, Any],
    path: Path,
    hosts: list[str],
    renderers: dict[str, Renderer],
    base_dir: str,
) -> RegistryAuth | None:
    """The registry for a play; its templates must render alike on every host."""
    if raw.get("registry") is None:
        return None
    rpath = (*path, "registry")
    body = raw["registry"]
    if not isinstance(body, dict):
        ctx.error(raw, "registry", rpath, f"registry must be a mapping, not {type_name(body)}")
        return None
    if "password" in body:
        ctx.error(
            body,
            "password",
            (*rpath, "password"),
            "never put a password in a playbook: use password_env: NAME or password_file: PATH",
            at_key=True,
        )
        body = {k: v for k, v in body.items() if k != "password"}
    if not ctx.check_keys(body, rpath, REGISTRY_KEYS):
        return None
    if "password_env" in body and "password_file" in body:
        ctx.error(
            body, "password_file", rpath, "give either password_env or password_file, not both"
        )
        return None
    rendered: dict[str, dict[str, str]] = {}
    for host in hosts or ["(no host)"]:
        renderer = renderers.get(host) or Renderer({})
        values: dict[str, str] = {}
        for key, value in body.items():
            try:
                out = renderer.render(value)
            except TemplateError as err:
                ctx.error(body, key, (*rpath, key), str(err), host=host if hosts else None)
                continue
            if not isinstance(out, str | int) or isinstance(out, bool) or not str(out).strip():
                ctx.error(body, key, (*rpath, key), f"{key} must be a non-empty string")
                continue
            values[key] = str(out)
        rendered[host] = values
    first_host = next(iter(rendered))
    first = rendered[first_host]
    for host, values in rendered.items():
        if values != first:
            diff = sorted(k for k in set(values) | set(first) if values.get(k) != first.get(k))
            ctx.error(
                raw,
                "registry",
                rpath,
                f"registry {', '.join(diff)} renders differently on {first_host} and {host}; "
                "a play has one registry",
            )
            return None
    return _auth(ctx, body, rpath, first, base_dir)


def _auth(
    ctx: Ctx, body: dict[Any, Any], rpath: Path, values: dict[str, str], base_dir: str
) -> RegistryAuth | None:
    server = values.get("server")
    if server is not None and not _SERVER.match(server):
        ctx.error(
            body,
            "server",
            (*rpath, "server"),
            f"invalid registry server {server!r}; expected host[:port]",
        )
    password: Secret | None = None
    problem: str | None = None
    key = "password_env"
    if "password_env" in values:
        password, problem = secret_from_env(values["password_env"], "registry password")
    elif "password_file" in values:
        password, problem = secret_from_file(values["password_file"], base_dir, "registry password")
        key = "password_file"
    if problem:
        ctx.error(body, key, (*rpath, key), problem)
        return None
    username = values.get("username")
    if ("username" in body) != ("password_env" in body or "password_file" in body):
        ctx.problems.add(
            ctx.doc.file,
            ctx.doc.own(body),
            rpath,
            "give both username and password_env/password_file, or neither",
        )
        return None
    return RegistryAuth(server=server, username=username, password=password)
