"""The `proxy:` block of a container: served through the host's reverse proxy."""

from __future__ import annotations

import re
from typing import Any

from deployer.config.health import Builder, _int
from deployer.config.schema import type_name
from deployer.config.values import parse_duration
from deployer.model import ProxySpec
from deployer.template.render import has_template

PROXY_KEYS = ("port", "host", "path", "drain")
MAX_DRAIN = 3600.0
# a DNS name, optionally one leading wildcard label (Caddy's host matcher takes both)
_HOST = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()+,;=:@%/-]*$")


def parse_proxy(b: Builder, has_ports: bool) -> ProxySpec | None:
    raw, path = b.raw["proxy"], (*b.path, "proxy")
    if not isinstance(raw, dict):
        b.error(
            b.raw,
            "proxy",
            path,
            f"proxy must be a mapping like {{port: 80}}, not {type_name(raw)}",
            False,
        )
        return None
    if not b.ctx.check_keys(raw, path, PROXY_KEYS):
        b.ok = False
    if has_ports:
        b.error(
            b.raw,
            "proxy",
            path,
            "a container behind the proxy publishes no host port of its own: remove `ports` "
            "(the proxy owns the host's public ports: deployer_proxy_http_port, "
            "deployer_proxy_https_port)",
            False,
            at_key=True,
        )
    if "port" not in raw:
        b.error(b.raw, "proxy", path, "proxy needs port: the port the app listens on inside", False)
        port = None
    else:
        port = _int(b, raw, "port", path, 1, 65535)
    host = _text(b, raw, "host", path, _HOST, "a host name like site.example or *.example")
    prefix = _text(b, raw, "path", path, _PATH, "a path prefix starting with '/', like /api")
    drain = 30.0
    if "drain" in raw:
        value = b.value(raw, "drain", (*path, "drain"))
        try:
            drain = parse_duration(value)
            if drain > MAX_DRAIN:
                raise ValueError(f"drain must be at most {MAX_DRAIN:.0f}s, got {value!r}")
        except ValueError as err:
            b.error(raw, "drain", (*path, "drain"), str(err), has_template(raw["drain"]))
    if port is None:
        return None
    prefix = (prefix or "/").rstrip("/") or "/"
    return ProxySpec(port=port, host=host.lower() if host else None, path=prefix, drain=drain)


def _text(
    b: Builder, raw: dict[Any, Any], key: str, path: Any, pattern: re.Pattern[str], what: str
) -> str | None:
    if key not in raw or raw[key] is None:
        return None
    text = b.text(raw, key, (*path, key), key)
    if text is None:
        return None
    if len(text) > 253 or not pattern.match(text):
        b.error(
            raw, key, (*path, key), f"{key} must be {what}, got {text!r}", has_template(raw[key])
        )
        return None
    return text
