"""Host patterns exactly as Ansible reads them.

`a:b` / `a,b` (union), `a:!b` (exclusion), `a:&b` (intersection), shell wildcards,
`~regex`, subscripts `group[i]` / `group[i:j]`, and in limits `@file` (one
pattern per line). Patterns are applied regular first, then `&`, then `!`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable

from deployer.inventory.data import InventoryData
from deployer.inventory.hostrange import AddressError, parse_address

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_COLON_SPLIT = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


class PatternError(ValueError):
    pass


def split_host_pattern(pattern: str) -> list[str]:
    """'a,b[1], c[2:3]' -> ['a', 'b[1]', 'c[2:3]']; ':' separates unless it is part of an address."""
    if "," in pattern:
        parts = pattern.split(",")
    else:
        try:
            parse_address(pattern, allow_ranges=True)
            parts = [pattern]
        except AddressError:
            parts = _COLON_SPLIT.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def order_patterns(patterns: Iterable[str]) -> list[str]:
    regular = [p for p in patterns if p and p[0] not in "!&"]
    inter = [p for p in patterns if p and p[0] == "&"]
    exclude = [p for p in patterns if p and p[0] == "!"]
    return (regular or ["all"]) + inter + exclude


def read_limit_file(path: str) -> list[str]:
    """`@file` in a limit: one pattern per line."""
    if not os.path.exists(path):
        raise PatternError(f"limit file {path} does not exist")
    if not os.path.isfile(path):
        raise PatternError(f"limit file {path} is not a file")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1024 * 1024)
    except (OSError, UnicodeDecodeError) as err:
        raise PatternError(f"cannot read limit file {path}: {err}") from None
    return [line.strip() for line in text.split("\n") if line.strip()]


class Matcher:
    """Evaluates patterns against one inventory."""

    def __init__(self, inv: InventoryData) -> None:
        self.inv = inv
        self.cache: dict[str, list[str]] = {}

    def hosts(self, pattern: str, limit: str | None = None) -> list[str]:
        """Matching host names in inventory order (possibly empty); PatternError if malformed."""
        hosts = self.evaluate(split_host_pattern(pattern))
        if limit is not None:
            allowed = set(self.evaluate(self.limit_patterns(limit)))
            hosts = [h for h in hosts if h in allowed]
        return list(dict.fromkeys(hosts))

    def limit_patterns(self, limit: str) -> list[str]:
        out: list[str] = []
        for part in split_host_pattern(limit):
            out.extend(read_limit_file(part[1:]) if part.startswith("@") else [part])
        return out

    def evaluate(self, patterns: list[str]) -> list[str]:
        hosts: list[str] = []
        for p in order_patterns(patterns):
            if p in self.inv.hosts:
                hosts.append(p)
                continue
            that = self.one(p)
            if p[0] == "!":
                drop = set(that)
                hosts = [h for h in hosts if h not in drop]
            elif p[0] == "&":
                keep = set(that)
                hosts = [h for h in hosts if h in keep]
            else:
                existing = set(hosts)
                hosts.extend(h for h in that if h not in existing)
        return hosts

    def one(self, pattern: str) -> list[str]:
        if pattern[0] in "&!":
            pattern = pattern[1:]
        if not pattern:
            raise PatternError("'!' or '&' must be followed by a pattern")
        if pattern not in self.cache:
            expr, subscript = split_subscript(pattern)
            hosts = self.enumerate(expr)
            if subscript and hosts:
                start, end = subscript
                if end:
                    hosts = hosts[start : (len(hosts) - 1 if end == -1 else end) + 1]
                else:
                    try:
                        hosts = [hosts[start]]
                    except IndexError:
                        raise PatternError(
                            f"{pattern!r}: index {start} is out of range "
                            f"({expr!r} has {len(hosts)} hosts)"
                        ) from None
            self.cache[pattern] = hosts
        return self.cache[pattern]

    def enumerate(self, pattern: str) -> list[str]:
        regex = compile_pattern(pattern)
        groups = [g for g in self.inv.groups if regex.match(g)]
        results: list[str] = []
        for g in groups:
            results.extend(self.inv.group_hosts(g))
        if not groups or pattern[0] == "~" or any(c in pattern for c in ".?*["):
            results.extend(h for h in self.inv.hosts if regex.match(h))
        return results


def split_subscript(pattern: str) -> tuple[str, tuple[int, int | None] | None]:
    if pattern[0] == "~":
        return pattern, None
    m = _SUBSCRIPT.match(pattern)
    if not m:
        return pattern, None
    expr, idx, start, _sep, end = m.groups()
    if idx:
        return expr, (int(idx), None)
    return expr, (int(start), int(end) if end else -1)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        if pattern[0] == "~":
            return re.compile(pattern[1:])
        return re.compile(fnmatch.translate(pattern))
    except re.error as err:
        raise PatternError(f"{pattern!r} is not a valid pattern: {err}") from None
