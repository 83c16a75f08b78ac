"""The `health:` block of a container: http / tcp / docker, timeout, interval."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from deployer.config.schema import Ctx, Path, shown, type_name
from deployer.config.values import parse_duration
from deployer.model import HealthSpec, PortSpec
from deployer.template.render import has_template


class Builder(Protocol):
    """What the health block needs of the container being checked (a
    config.containers.ContainerBuilder; named here, not imported: containers -> health only)."""

    ctx: Ctx
    raw: dict[Any, Any]
    path: Path
    ok: bool

    def error(
        self,
        parent: object,
        key: Any,
        path: Path,
        message: str,
        templated: bool,
        at_key: bool = False,
    ) -> None: ...

    def value(self, parent: Any, key: Any, path: Path) -> Any: ...

    def text(
        self, parent: Any, key: Any, path: Path, what: str, empty_ok: bool = False
    ) -> str | None: ...


HEALTH_KEYS = ("http", "tcp", "docker", "timeout", "interval")
KINDS = ("http", "tcp", "docker")
HTTP_KEYS = ("port", "path", "status")
TCP_KEYS = ("port",)


def parse_health(b: Builder, ports: tuple[PortSpec, ...]) -> HealthSpec:
    raw, path = b.raw["health"], (*b.path, "health")
    if not isinstance(raw, dict):
        b.error(b.raw, "health", path, f"health must be a mapping, not {type_name(raw)}", False)
        return HealthSpec()
    if not b.ctx.check_keys(raw, path, HEALTH_KEYS):
        b.ok = False
    kinds = [k for k in KINDS if k in raw]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        b.error(
            b.raw,
            "health",
            path,
            f"health needs exactly one of http, tcp or docker (found: {found})",
            False,
        )
        return HealthSpec()
    kind = kinds[0]
    timeout = _duration(b, raw, "timeout", path, 60.0)
    interval = _duration(b, raw, "interval", path, 1.0)
    if kind == "docker":
        if raw["docker"] is not True:
            b.error(
                raw,
                "docker",
                (*path, "docker"),
                "docker must be true (use the image's own HEALTHCHECK)",
                False,
            )
        return HealthSpec(kind="docker", timeout=timeout, interval=interval)
    body = raw[kind] if raw[kind] is not None else {}
    kpath = (*path, kind)
    if not isinstance(body, dict):
        b.error(
            raw,
            kind,
            kpath,
            f"{kind} must be a mapping like {{port: 80}}, not {type_name(body)}",
            False,
        )
        return HealthSpec()
    if not b.ctx.check_keys(body, kpath, HTTP_KEYS if kind == "http" else TCP_KEYS):
        b.ok = False
    port = _port(b, body, kpath, ports)
    hpath, status = "/", 200
    if kind == "http":
        if "path" in body:
            hpath = b.text(body, "path", (*kpath, "path"), "path") or "/"
            if not hpath.startswith("/"):
                b.error(
                    body,
                    "path",
                    (*kpath, "path"),
                    f"path must start with '/', got {hpath!r}",
                    has_template(body["path"]),
                )
            elif not hpath.isprintable() or any(c.isspace() for c in hpath):
                b.error(
                    body,
                    "path",
                    (*kpath, "path"),
                    f"path must not contain spaces, line breaks or control characters "
                    f"(encode them, e.g. %20), got {hpath!r}",
                    has_template(body["path"]),
                )
        if "status" in body:
            status = _int(b, body, "status", kpath, 100, 599) or 200
    kind_: Literal["http", "tcp"] = "http" if kind == "http" else "tcp"
    return HealthSpec(
        kind=kind_, port=port, path=hpath, status=status, timeout=timeout, interval=interval
    )


def _int(b: Builder, body: dict[Any, Any], key: str, path: Any, low: int, high: int) -> int | None:
    value = b.value(body, key, (*path, key))
    try:
        n = int(str(value)) if not isinstance(value, bool | float) else None
    except ValueError:
        n = None
    if n is None or not low <= n <= high:
        b.error(
            body,
            key,
            (*path, key),
            f"{key} must be a whole number from {low} to {high}, got {shown(value)}",
            has_template(body[key]),
        )
        return None
    return n


def _port(b: Builder, body: dict[Any, Any], path: Any, ports: tuple[PortSpec, ...]) -> int | None:
    if "port" in body:
        return _int(b, body, "port", path, 1, 65535)
    inner = sorted({p.container_port for p in ports})
    if len(inner) == 1:
        return inner[0]
    b.error(
        b.raw["health"], path[-1], path, "port is required (the container port to probe)", False
    )
    return None


def _duration(b: Builder, raw: dict[Any, Any], key: str, path: Any, default: float) -> float:
    if key not in raw:
        return default
    value = b.value(raw, key, (*path, key))
    try:
        return parse_duration(value)
    except ValueError as err:
        b.error(raw, key, (*path, key), str(err), has_template(raw[key]))
        return default
