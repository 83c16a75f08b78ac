"""One playbook container, rendered for one host, checked, and turned into a ContainerSpec."""

from __future__ import annotations

import re
import shlex
from typing import Any

from deployer.config.lifecycle import LIFECYCLE_KEYS, absent_spec, missing_image, parse_lifecycle
from deployer.config.networks import parse_attach
from deployer.config.options import OPTION_KEYS, parse_options
from deployer.config.schema import MISSING as _MISSING
from deployer.config.schema import Ctx, Path, resolve_secret, shown, type_name
from deployer.config.values import parse_image, parse_ports
from deployer.model import BuildSpec, ContainerSpec, HealthSpec, PortSpec, ProxySpec, Secret
from deployer.template.render import Renderer, TemplateError, has_template

CONTAINER_KEYS = (
    "name",
    "image",
    "ports",
    "env",
    "secret_env",
    "volumes",
    "restart",
    "command",
    "labels",
    "stop_timeout",
    "retain",
    "health",
    "proxy",
    "networks",
    "build",
    *OPTION_KEYS,
    *LIFECYCLE_KEYS,
    "swarm",  # config/swarm.py
)
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")


def _printable(text: str) -> bool:
    """No whitespace (space, tab, CR, LF, ...), no NUL or other control character."""
    return text.isprintable() and not any(c.isspace() for c in text)


class ContainerBuilder:
    """Checks one container mapping for one host; problems go to ctx, tagged with the host."""

    def __init__(
        self,
        ctx: Ctx,
        raw: dict[Any, Any],
        path: Path,
        renderer: Renderer,
        host: str,
        base_dir: str,
    ) -> None:
        self.ctx, self.raw, self.path = ctx, raw, path
        self.renderer, self.host, self.base_dir = renderer, host, base_dir
        self.lenient = host == ""  # no host to render for: check only what needs no variables
        self.ok = True

    def error(
        self,
        parent: object,
        key: Any,
        path: Path,
        message: str,
        templated: bool,
        at_key: bool = False,
    ) -> None:
        self.ok = False
        host = self.host if templated and self.host else None
        self.ctx.error(parent, key, path, message, host=host, at_key=at_key)

    def value(self, parent: Any, key: Any, path: Path) -> Any:
        """parent[key] rendered for this host, or _MISSING after a problem."""
        raw = parent[key]
        try:
            return self.renderer.render(raw)
        except TemplateError as err:
            if self.lenient:
                self.ok = False
            else:
                self.error(parent, key, path, str(err), True)
            return _MISSING

    def text(
        self, parent: Any, key: Any, path: Path, what: str, empty_ok: bool = False
    ) -> str | None:
        value = self.value(parent, key, path)
        if value is _MISSING:
            return None
        if isinstance(value, dict | list | bool) or value is None:
            self.error(
                parent,
                key,
                path,
                f"{what} must be a string, not {type_name(value)}",
                has_template(parent[key]),
            )
            return None
        text = str(value)
        if (not text and not empty_ok) or "\0" in text:
            self.error(
                parent,
                key,
                path,
                f"{what} must not be empty or contain NUL",
                has_template(parent[key]),
            )
            return None
        return text

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        if key not in self.raw:
            return default
        path = (*self.path, key)
        value = self.value(self.raw, key, path)
        if value is _MISSING:
            return default
        try:
            n = int(str(value).strip()) if not isinstance(value, bool | float) else None
        except ValueError:
            n = None
        if n is None or not low <= n <= high:
            self.error(
                self.raw,
                key,
                path,
                f"{key} must be a whole number from {low} to {high}, got {shown(value)}",
                has_template(self.raw[key]),
            )
            return default
        return n

    def build(self) -> ContainerSpec | None:
        raw, path = self.raw, self.path
        name = self.text(raw, "name", (*path, "name"), "name") if "name" in raw else None
        if name is not None and not _NAME.match(name):
            self.error(
                raw,
                "name",
                (*path, "name"),
                f"container name {name!r} is invalid: use letters, digits, '_', '.', '-' "
                "(at least 2 characters, starting with a letter or digit)",
                has_template(raw["name"]),
            )
        image = self.text(raw, "image", (*path, "image"), "image") if "image" in raw else None
        if image is not None:
            try:
                parse_image(image)
            except ValueError as err:
                self.error(raw, "image", (*path, "image"), str(err), has_template(raw["image"]))
        spec = ContainerSpec(
            name=name or "",
            image=image or "",
            ports=self.ports(),
            env=self.env(),
            secret_env=self.secret_env(),
            volumes=self.volumes(),
            restart=self.restart(),
            command=self.command(),
            labels=self.labels(),
            stop_timeout=self.integer("stop_timeout", 10, 0, 3600),
            retain=self.integer("retain", 1, 0, 100),
            health=HealthSpec(),
        )
        proxy = self.proxy(bool(spec.ports))
        networks = parse_attach(self.ctx, raw, path)
        if networks is None:
            self.ok = False
        build = self.build_spec()
        options = parse_options(self)
        # behind the proxy, the health check's port defaults to the app's port
        health = self.health(spec.ports or ((PortSpec(proxy.port),) if proxy else ()))
        life = parse_lifecycle(self)
        if life.state == "absent" and self.ok and name is not None:  # only its name matters
            return absent_spec(name, image, spec.stop_timeout)
        templated = has_template(raw.get("state"))
        if "image" not in raw and life.state == "present" and not (templated and self.lenient):
            missing_image(self.ctx, raw, path, self.host if templated else None)
        if not self.ok or name is None or image is None:
            return None
        return ContainerSpec(
            **{
                **spec.__dict__,
                "health": health,
                "proxy": proxy,
                "networks": networks or (),
                "build": build,
                "options": options,
                "replace": life.replace,
                "depends_on": life.depends_on,
            }
        )

    def items(self, key: str) -> list[tuple[Any, Any, Path]]:
        """(parent, index, path) for each element of the list under KEY."""
        if key not in self.raw or self.raw[key] is None:
            return []
        path = (*self.path, key)
        value = self.raw[key]
        if has_template(value):
            value = self.value(self.raw, key, path)
            if value is _MISSING:
                return []
        if not isinstance(value, list):
            self.error(
                self.raw,
                key,
                path,
                f"{key} must be a list, not {type_name(value)}",
                has_template(self.raw[key]),
            )
            return []
        return [(value, i, (*path, i)) for i in range(len(value))]

    def pairs(self, key: str) -> list[tuple[Any, Any, Path]]:
        """(parent, key, path) for each entry of the mapping under KEY."""
        if key not in self.raw or self.raw[key] is None:
            return []
        value = self.raw[key]
        if not isinstance(value, dict):
            self.error(
                self.raw,
                key,
                (*self.path, key),
                f"{key} must be a mapping of NAME: value, not {type_name(value)}",
                False,
            )
            return []
        return [(value, k, (*self.path, key, str(k))) for k in value]

    def ports(self) -> tuple[PortSpec, ...]:
        out: list[PortSpec] = []
        for parent, i, path in self.items("ports"):
            value = self.value(parent, i, path)
            if value is _MISSING:
                continue
            try:
                out.extend(parse_ports(value))
            except ValueError as err:
                self.error(parent, i, path, str(err), has_template(parent[i]))
        return tuple(out)

    def env_name(self, parent: Any, key: Any, path: Path) -> str | None:
        if not isinstance(key, str) or not key or "=" in key or not _printable(key):
            self.error(
                parent,
                key,
                path,
                f"invalid name {key!r} (no '=', spaces, tabs, line breaks or other control characters)",
                False,
                at_key=True,
            )
            return None
        return key

    def env(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for parent, key, path in self.pairs("env"):
            name = self.env_name(parent, key, path)
            value = self.value(parent, key, path)
            if name is None or value is _MISSING:
                continue
            if isinstance(value, bool) or value is None or isinstance(value, dict | list):
                hint = f"; quote it: '{str(value).lower()}'" if isinstance(value, bool) else ""
                self.error(
                    parent,
                    key,
                    path,
                    f"environment value must be a string or number, not {type_name(value)}{hint}",
                    has_template(parent[key]),
                )
                continue
            if "\0" in str(value):
                self.error(
                    parent,
                    key,
                    path,
                    "environment value must not contain NUL",
                    has_template(parent[key]),
                )
                continue
            out.append((name, str(value)))
        return tuple(out)

    def secret_env(self) -> tuple[tuple[str, Secret], ...]:
        out: list[tuple[str, Secret]] = []
        plain = (
            {k for k in (self.raw.get("env") or {})}
            if isinstance(self.raw.get("env"), dict)
            else set()
        )
        for parent, key, path in self.pairs("secret_env"):
            name = self.env_name(parent, key, path)
            spec = self.value(parent, key, path)
            if name is None or spec is _MISSING:
                continue
            if name in plain:
                self.error(parent, key, path, f"{name} is set in both env and secret_env", False)
                continue
            secret, problem = resolve_secret(spec, self.base_dir, f"secret_env {name}")
            if problem:
                self.error(parent, key, path, problem, has_template(parent[key]))
            elif secret is not None:
                out.append((name, secret))
        return tuple(out)

    def volumes(self) -> tuple[str, ...]:
        out: list[str] = []
        for parent, i, path in self.items("volumes"):
            text = self.text(parent, i, path, "a volume")
            if text is None:
                continue
            parts = text.split(":")
            target = parts[1] if len(parts) >= 2 else parts[0]
            if len(parts) > 3 or not target.startswith("/") or any(c in text for c in "\n\r"):
                self.error(
                    parent,
                    i,
                    path,
                    f"invalid volume {text!r}: expected SOURCE:/container/path[:ro] or /container/path",
                    has_template(parent[i]),
                )
                continue
            out.append(text)
        return tuple(out)

    def restart(self) -> str:
        if "restart" not in self.raw:
            return "unless-stopped"
        text = self.text(self.raw, "restart", (*self.path, "restart"), "restart")
        if text is not None and not _RESTART.match(text):
            self.error(
                self.raw,
                "restart",
                (*self.path, "restart"),
                f"restart must be no, always, unless-stopped or on-failure[:N], got {text!r}",
                has_template(self.raw["restart"]),
            )
        return text if text and _RESTART.match(text) else "unless-stopped"

    def command(self) -> tuple[str, ...] | None:
        if self.raw.get("command") is None:
            return None
        path = (*self.path, "command")
        value = self.value(self.raw, "command", path)
        if value is _MISSING:
            return None
        if isinstance(value, str):
            try:
                return tuple(shlex.split(value))
            except ValueError as err:
                self.error(
                    self.raw,
                    "command",
                    path,
                    f"cannot split command: {err}",
                    has_template(self.raw["command"]),
                )
                return None
        if isinstance(value, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
        ):
            return tuple(str(v) for v in value)
        self.error(
            self.raw,
            "command",
            path,
            "command must be a string or a list of strings",
            has_template(self.raw["command"]),
        )
        return None

    def labels(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for parent, key, path in self.pairs("labels"):
            name = self.env_name(parent, key, path)
            value = self.value(parent, key, path)
            if name is None or value is _MISSING:
                continue
            if isinstance(value, dict | list) or value is None:
                self.error(
                    parent,
                    key,
                    path,
                    f"label value must be a string, not {type_name(value)}",
                    has_template(parent[key]),
                )
                continue
            out.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
        return tuple(out)

    def build_spec(self) -> BuildSpec | None:
        from deployer.config.build import parse_build

        if self.raw.get("build") is None:
            return None
        return parse_build(self, self.base_dir)

    def proxy(self, has_ports: bool) -> ProxySpec | None:
        from deployer.config.proxy import parse_proxy

        if self.raw.get("proxy") is None:
            return None
        return parse_proxy(self, has_ports)

    def health(self, ports: tuple[PortSpec, ...]) -> HealthSpec:
        from deployer.config.health import parse_health

        if self.raw.get("health") is None:
            return HealthSpec()
        return parse_health(self, ports)
