"""The container options: more `docker run` flags (memory, cpus, user, entrypoint, caps,
ulimits, log, pull, ...), each checked with docker's own grammar (config/option_values.py)
and every problem reported at its file:line and key path. docs/playbook.md has the table
of `docker run` flags and the keys that carry them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from deployer.config import option_values as v
from deployer.config.health import Builder
from deployer.config.schema import MISSING, Path, shown, type_name
from deployer.model import LogConfig, PullPolicy, RunOptions
from deployer.template.render import has_template

OPTION_KEYS = (
    "memory",
    "memory_reservation",
    "shm_size",
    "cpus",
    "cpu_shares",
    "user",
    "workdir",
    "entrypoint",
    "hostname",
    "extra_hosts",
    "dns",
    "cap_add",
    "cap_drop",
    "read_only",
    "tmpfs",
    "ulimits",
    "init",
    "devices",
    "gpus",
    "privileged",
    "log",
    "pull",
)
PULL: tuple[PullPolicy, ...] = ("always", "missing", "never")
LOG_KEYS = ("driver", "options")
ULIMIT_KEYS = ("soft", "hard")
_DRIVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,127}$")  # built-in, or a plugin name:tag
_LOG_OPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_COMMON_LOG_OPTS = ("mode", "max-buffer-size")  # the daemon takes these for every driver
LOG_OPTS = {  # the daemon's own lists (jsonfilelog, local): any other key fails at create
    "json-file": ("max-size", "max-file", "compress", "labels", "labels-regex", "env")
    + ("env-regex", "tag", *_COMMON_LOG_OPTS),
    "local": ("max-size", "max-file", "compress", *_COMMON_LOG_OPTS),
    "none": (),
}
T = TypeVar("T")
Entry = tuple[Any, Any, Path, Any, bool]  # parent, key (for the position), path, value, templated


def parse_options(b: Builder) -> RunOptions:
    """The options of the container B checks; problems go to B (a bad one is left unset)."""
    r = _Reader(b)
    memory = r.own("memory", lambda x: v.byte_size(x, "memory", v.MIN_MEMORY))
    reservation = r.own(
        "memory_reservation", lambda x: v.byte_size(x, "memory_reservation", v.MIN_MEMORY)
    )
    if memory and reservation and v.size_bytes(reservation) > v.size_bytes(memory):
        r.fail("memory_reservation", f"must not be more than memory ({memory})")
    return RunOptions(
        memory=memory,
        memory_reservation=reservation,
        shm_size=r.own("shm_size", lambda x: v.byte_size(x, "shm_size")),
        cpus=r.own("cpus", v.cpus),
        cpu_shares=r.own("cpu_shares", _cpu_shares),
        user=r.own("user", v.user),
        workdir=r.own("workdir", lambda x: v.abs_path(x, "workdir")),
        entrypoint=r.own("entrypoint", _entrypoint),
        hostname=r.own("hostname", v.hostname),
        extra_hosts=r.extra_hosts(),
        dns=r.many("dns", lambda x: v.ip(x, "a dns server")),
        cap_add=_caps(r.many("cap_add", v.capability)),
        cap_drop=_caps(r.many("cap_drop", v.capability)),
        read_only=bool(r.own("read_only", lambda x: _flag(x, "read_only"))),
        tmpfs=r.many("tmpfs", v.tmpfs),
        ulimits=r.ulimits(),
        init=r.own("init", lambda x: _flag(x, "init")),
        devices=r.many("devices", v.device),
        gpus=r.own("gpus", v.gpus),
        privileged=bool(r.own("privileged", lambda x: _flag(x, "privileged"))),
        log=r.log(),
        pull=r.own("pull", _pull) or "always",
    )


class _Reader:
    """Renders and checks the option keys of one container mapping."""

    def __init__(self, b: Builder) -> None:
        self.b = b

    def fail(self, key: str, message: str) -> None:
        b = self.b
        b.error(b.raw, key, (*b.path, key), f"{key} {message}", has_template(b.raw[key]))

    def own(self, key: str, check: Callable[[Any], T]) -> T | None:
        """The container's KEY checked, None when absent, null or wrong (said)."""
        return self.one(self.b.raw, key, (*self.b.path, key), check)

    def one(self, parent: Any, key: Any, path: Path, check: Callable[[Any], T]) -> T | None:
        if key not in parent or parent[key] is None:
            return None
        value = self.b.value(parent, key, path)
        if value is MISSING:
            return None
        return self.checked((parent, key, path, value, has_template(parent[key])), check)

    def checked(self, entry: Entry, check: Callable[[Any], T]) -> T | None:
        parent, key, path, value, templated = entry
        try:
            return check(value)
        except ValueError as err:
            self.b.error(parent, key, path, str(err), templated)
            return None

    def many(self, key: str, check: Callable[[Any], str]) -> tuple[str, ...]:
        """A list option, each item checked (and reported at its own line)."""
        out = [self.checked(e, check) for e in self.entries(key, list)]
        return tuple(x for x in out if x is not None)

    def entries(self, key: str, kind: type) -> list[Entry]:
        """The items of the list (kind=list) or the entries of the mapping (kind=dict) under
        KEY, rendered; a template that renders to one is reported at the key."""
        b = self.b
        if key not in b.raw or b.raw[key] is None:
            return []
        raw: Any = b.raw[key]
        path = (*b.path, key)
        if _is(raw, kind):
            keys = range(len(raw)) if isinstance(raw, list) else list(raw)
            out = [(raw, k, (*path, k), b.value(raw, k, (*path, k))) for k in keys]
            return [(p, k, kp, x, has_template(p[k])) for p, k, kp, x in out if x is not MISSING]
        value: Any = b.value(b.raw, key, path)
        if value is MISSING:
            return []
        if not _is(value, kind):
            what = "a list" if kind is list else "a mapping"
            self.fail(key, f"must be {what}, not {type_name(value)}")
            return []
        keys = range(len(value)) if isinstance(value, list) else list(value)
        return [(b.raw, key, (*path, k), value[k], True) for k in keys]

    def extra_hosts(self) -> tuple[str, ...]:
        """A mapping host: ip, or a list of "host:ip"."""
        if isinstance(self.b.raw.get("extra_hosts"), dict):
            out = [self.checked(e, partial(v.extra_host, e[2][-1])) for e in self.pairs()]
            return tuple(x for x in out if x is not None)
        return self.many("extra_hosts", v.extra_host_item)

    def pairs(self, key: str = "extra_hosts") -> list[Entry]:
        return self.entries(key, dict)

    def ulimits(self) -> tuple[str, ...]:
        """A mapping name: soft, "soft:hard" or {soft, hard}."""
        out = []
        for entry in self.pairs("ulimits"):
            name, value = entry[2][-1], entry[3]
            if isinstance(value, dict):
                out.append(self.checked(entry, partial(_ulimit_mapping, name)))
            else:
                out.append(self.checked(entry, partial(v.ulimit_text, name)))
        return tuple(x for x in out if x is not None)

    def log(self) -> LogConfig | None:
        b = self.b
        raw, path = b.raw.get("log"), (*b.path, "log")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            example = "{driver: json-file, options: {max-size: 50m}}"
            self.fail("log", f"must be a mapping like {example}, not {type_name(raw)}")
            return None
        if not b.ctx.check_keys(raw, path, LOG_KEYS):
            b.ok = False
            return None
        driver = self.one(raw, "driver", (*path, "driver"), _driver) or "json-file"
        options = tuple(self.log_options(raw, path, driver))
        return LogConfig(driver, options)

    def log_options(self, raw: dict[Any, Any], path: Path, driver: str) -> list[tuple[str, str]]:
        body = raw.get("options")
        if body is None:
            return []
        if not isinstance(body, dict):
            b = self.b
            b.error(raw, "options", (*path, "options"), "options must be a mapping", False)
            return []
        out = []
        for key in body:
            kpath = (*path, "options", str(key))
            if body[key] is None:
                self.b.error(body, key, kpath, f"log option {key} needs a value", False)
                continue
            value = self.one(body, key, kpath, partial(_log_opt, driver, key))
            if value is not None:
                out.append((str(key), value))
        return out


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind)


def _flag(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{key} must be true or false, not {shown(value)}")


def _cpu_shares(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError(
            f"cpu_shares must be a whole number (1024 is the default weight), got {shown(value)}"
        )
    n = int(str(value))
    if not 2 <= n <= 262144:
        raise ValueError(f"cpu_shares must be from 2 to 262144 (the kernel's range), got {n}")
    return n


def _entrypoint(value: object) -> tuple[str, ...]:
    """A string is split like a shell (as `command` is); a list is taken as it is; "" or []
    resets the image's entrypoint."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as err:
            raise ValueError(f"cannot split entrypoint: {err}") from None
    if isinstance(value, list) and all(
        isinstance(x, str | int | float) and not isinstance(x, bool) for x in value
    ):
        items = tuple(str(x) for x in value)
        if items and not items[0]:
            raise ValueError("entrypoint's first item (the program) must not be empty")
        if any("\0" in x for x in items):
            raise ValueError("entrypoint must not contain NUL")
        return items
    raise ValueError(f"entrypoint must be a string or a list of strings, not {type_name(value)}")


def _caps(caps: tuple[str, ...]) -> tuple[str, ...]:
    """Order means nothing to docker: sorted, once each (a reordering replaces nothing)."""
    return tuple(sorted(set(caps)))


def _ulimit_mapping(name: object, value: Any) -> str:
    unknown = [k for k in value if k not in ULIMIT_KEYS]
    if unknown or "soft" not in value:
        raise ValueError(f"ulimit {name} must be {{soft: N, hard: N}} (hard defaults to soft)")
    return v.ulimit(name, value["soft"], value.get("hard", value["soft"]))


def _driver(value: object) -> str:
    if not isinstance(value, str) or not _DRIVER.match(value):
        raise ValueError(
            f"log driver must be a driver name like json-file, local, journald, syslog, "
            f"gelf, fluentd, none (or a plugin's), got {shown(value)}"
        )
    return value


def _log_opt(driver: str, key: object, value: object) -> str:
    if not isinstance(key, str) or not _LOG_OPT.match(key):
        raise ValueError(f"invalid log option name {shown(key)}")
    known = LOG_OPTS.get(driver)
    if known is not None and key not in known:
        have = ", ".join(known) or "none"
        raise ValueError(f"the {driver} log driver has no option {key!r} (it takes: {have})")
    if value is None or isinstance(value, dict | list):
        raise ValueError(f"log option {key} must be a string or number, not {type_name(value)}")
    text = str(value).lower() if isinstance(value, bool) else str(value).strip()
    if key == "max-size":
        return v.human_size(text, "max-size")
    if key == "max-file" and not (text.isdigit() and int(text) >= 1):
        raise ValueError(f"max-file must be a whole number of at least 1, got {shown(value)}")
    if key == "compress" and text not in ("true", "false"):
        raise ValueError(f"compress must be true or false, got {shown(value)}")
    if key == "mode" and text not in ("blocking", "non-blocking"):
        raise ValueError(f"mode must be blocking or non-blocking, got {shown(value)}")
    if not text.isprintable():
        raise ValueError(f"log option {key} must not contain line breaks or control characters")
    return text


def _pull(value: object) -> PullPolicy:
    for policy in PULL:
        if value == policy:
            return policy
    raise ValueError(f"pull must be always, missing or never, got {shown(value)}")
