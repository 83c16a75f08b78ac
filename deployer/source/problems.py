"""Collecting validation problems, each as `file:line:column: key.path: what is wrong`.

Validation never stops at the first mistake: every stage adds to a `Problems`
collector and the caller raises one `ConfigError` carrying all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from deployer.errors import ConfigError

Key = str | int
Path = tuple[Key, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    line: int
    column: int


NOWHERE = Mark(1, 1)


def format_path(path: Sequence[object]) -> str:
    """('plays', 0, 'containers', 1, 'image') -> 'plays[0].containers[1].image'."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            text = str(part)
            if (out and (not text or any(c in text for c in " .[]:"))) or not text.isprintable():
                out += f"[{text!r}]"
            else:
                out += f".{text}" if out else text
    return out or "(top)"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """' (did you mean 'image'?)' or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def short_list(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


class Problems:
    """An ordered collection of problems; identical ones found on several hosts are merged."""

    def __init__(self) -> None:
        self._order: list[tuple[str, Mark, str, str]] = []
        self._hosts: dict[tuple[str, Mark, str, str], list[str]] = {}

    def add(
        self,
        file: str,
        mark: Mark | None,
        path: Sequence[object],
        message: str,
        host: str | None = None,
    ) -> None:
        key = (file, mark or NOWHERE, format_path(path), message)
        if key not in self._hosts:
            self._order.append(key)
            self._hosts[key] = []
        if host is not None and host not in self._hosts[key]:
            self._hosts[key].append(host)

    def extend(self, err: ConfigError) -> None:
        """Add the problems of an already-raised ConfigError (kept as they are)."""
        for text in err.problems:
            key = ("", NOWHERE, "", text)
            if key not in self._hosts:
                self._order.append(key)
                self._hosts[key] = []

    def __len__(self) -> int:
        return len(self._order)

    def __bool__(self) -> bool:
        return bool(self._order)

    def messages(self) -> list[str]:
        out = []
        for key in self._order:
            file, mark, path, message = key
            if not file and not path and mark == NOWHERE:
                out.append(message)
                continue
            hosts = self._hosts[key]
            if len(hosts) == 1:
                message = f"{message} (on host {hosts[0]})"
            elif hosts:
                message = f"{message} (on hosts {short_list(hosts)})"
            out.append(f"{file}:{mark.line}:{mark.column}: {path}: {message}")
        return out

    def raise_if_any(self) -> None:
        if self._order:
            raise ConfigError(self.messages())
