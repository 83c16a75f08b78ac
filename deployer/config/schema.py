"""Shared helpers for checking a positioned YAML document against a schema."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from deployer.model import Secret
from deployer.source.files import read_text
from deployer.source.problems import Key, Mark, Problems, did_you_mean
from deployer.source.yamlpos import Doc

Path = tuple[Key, ...]
MAX_SECRET_BYTES = 64 * 1024
MISSING = object()  # what a builder's value() gives after a problem (already reported)


def type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


def shown(value: object, limit: int = 60) -> str:
    """repr(value) for a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


@dataclass
class Ctx:
    """Where we are in the document, for messages."""

    doc: Doc
    problems: Problems

    def mark(self, parent: object, key: Key, at_key: bool = False) -> Mark:
        return self.doc.key_pos(parent, key) if at_key else self.doc.pos(parent, key)

    def error(
        self,
        parent: object,
        key: Key,
        path: Path,
        message: str,
        host: str | None = None,
        at_key: bool = False,
    ) -> None:
        self.problems.add(self.doc.file, self.mark(parent, key, at_key), path, message, host)

    def mapping(self, parent: object, key: Key, path: Path, what: str) -> dict[Any, Any] | None:
        """parent[key] if it is a mapping (None/absent -> {}), else a problem and None."""
        value = parent.get(key) if isinstance(parent, dict) else parent[key]  # type: ignore[index]
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(parent, key, path, f"{what} must be a mapping, not {type_name(value)}")
            return None
        return value

    def check_keys(
        self,
        mapping: dict[Any, Any],
        path: Path,
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> bool:
        """Problems for unknown and missing keys; True if all is well."""
        allowed = list(allowed)
        ok = True
        for key in mapping:
            if key not in allowed:
                ok = False
                hint = did_you_mean(key, allowed) or f"; expected one of: {', '.join(allowed)}"
                self.error(
                    mapping, key, (*path, str(key)), f"unknown key {key!r}{hint}", at_key=True
                )
        for key in required:
            if key not in mapping:
                ok = False
                self.problems.add(
                    self.doc.file, self.doc.own(mapping), path, f"missing required key {key!r}"
                )
        return ok


def resolve_secret(spec: object, base_dir: str, what: str) -> tuple[Secret | None, str | None]:
    """{env: NAME} or {file: PATH} -> (Secret, None) or (None, problem message)."""
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("env", "file"):
        return None, f"{what} must be {{env: NAME}} or {{file: PATH}}, never the value itself"
    kind, name = next(iter(spec.items()))
    if not isinstance(name, str) or not name.strip():
        return None, f"{what}: {kind} must be a non-empty string"
    if kind == "env":
        return secret_from_env(name, what)
    return secret_from_file(name, base_dir, what)


_UNREAD: ContextVar[bool] = ContextVar("deployer_secrets_unread", default=False)


@contextmanager
def secrets_unread() -> Iterator[None]:
    """Within it, secrets are named but never read: an unset variable or a missing file is
    no problem (an empty placeholder stands in). For commands that need no secret value,
    such as `deployer health`."""
    token = _UNREAD.set(True)
    try:
        yield
    finally:
        _UNREAD.reset(token)


def secret_from_env(name: str, what: str) -> tuple[Secret | None, str | None]:
    if _UNREAD.get():
        return Secret(f"env:{name}", ""), None
    if name not in os.environ:
        return None, f"{what}: environment variable {name} is not set on this machine"
    return _checked(Secret(f"env:{name}", os.environ[name]), what)


def secret_from_file(path: str, base_dir: str, what: str) -> tuple[Secret | None, str | None]:
    full = os.path.expanduser(path)
    if not os.path.isabs(full):
        full = os.path.normpath(os.path.join(base_dir, full))
    if _UNREAD.get():
        return Secret(f"file:{full}", ""), None
    if not os.path.isfile(full):
        return None, f"{what}: secret file {full} does not exist"
    if os.path.getsize(full) > MAX_SECRET_BYTES:
        return None, f"{what}: secret file {full} is larger than {MAX_SECRET_BYTES} bytes"
    sink = Problems()
    text = read_text(full, sink, "secret file")
    if text is None:
        return None, f"{what}: secret file {full} is unreadable or not UTF-8 text"
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    return _checked(Secret(f"file:{full}", text), what)


def _checked(secret: Secret, what: str) -> tuple[Secret | None, str | None]:
    value = secret.reveal()
    if "\n" in value or "\r" in value or "\0" in value:
        return (
            None,
            f"{what}: the secret from {secret.source} contains a line break or NUL, which docker cannot pass",
        )
    return secret, None
