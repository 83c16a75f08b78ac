"""Ansible inventories as they are: YAML, INI, host lists, folders, several `-i` merged.

Variable precedence follows Ansible's defaults:
  inventory vars of `all` < inventory vars of the host's other groups (by depth,
  ansible_group_priority, name) < group_vars/all < group_vars/<group> (same order)
  < the host's inventory vars < host_vars/<host>.
"""

from __future__ import annotations

import os
from typing import Any

from deployer.config.invdata import InventoryData, Origin
from deployer.config.invparse import IniInventory, YamlInventory
from deployer.config.patterns import Matcher, PatternError, compile_pattern, split_host_pattern
from deployer.config.problems import NOWHERE, Problems, did_you_mean, short_list
from deployer.config.varsfiles import VarsFiles
from deployer.config.yamlpos import load_text, read_text
from deployer.errors import ConfigError
from deployer.model import HostConn

_YAML_EXT = (".yml", ".yaml", ".json")
_IGNORED_EXT = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
)
_IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


class Inventory:
    """A loaded inventory: hosts, groups, merged variables, connection settings."""

    def __init__(self, data: InventoryData, sources: list[str], problems: Problems) -> None:
        self.data = data
        self.sources = sources
        self.vars_files = VarsFiles(sources, problems)
        self._matcher = Matcher(data)
        self._vars: dict[str, dict[str, Any]] = {}
        self._origins: dict[str, dict[str, Origin]] = {}

    @property
    def hosts(self) -> list[str]:
        return list(self.data.hosts)

    @property
    def groups(self) -> list[str]:
        return list(self.data.groups)

    def match(self, pattern: str, limit: str | None = None) -> list[str]:
        """Host names matching PATTERN (and LIMIT), inventory order; ConfigError if none."""
        problems = self.pattern_problems(pattern, "pattern")
        if limit is not None:
            problems += self.pattern_problems(limit, "--limit")
        if problems:
            raise ConfigError(problems)
        try:
            hosts = self._matcher.hosts(pattern, limit)
        except PatternError as err:
            raise ConfigError(str(err)) from None
        if not hosts:
            extra = f" within --limit {limit!r}" if limit is not None else ""
            raise ConfigError(f"host pattern {pattern!r} matches no hosts{extra}")
        return hosts

    def pattern_problems(self, pattern: str, what: str) -> list[str]:
        """Messages for the parts of PATTERN that match neither a group nor a host."""
        out = []
        parts = split_host_pattern(pattern)
        if not parts:
            return [f"{what} {pattern!r} is empty"]
        try:
            if what == "--limit":
                parts = self._matcher.limit_patterns(pattern)
            for part in parts:
                bare = part.lstrip("!&")
                if not bare:
                    out.append(f"{what} {pattern!r}: {part!r} names nothing")
                elif bare != "all" and bare not in self.data.hosts and not self._matches_any(bare):
                    hint = did_you_mean(bare, [*self.data.groups, *self.data.hosts])
                    out.append(f"{what} {pattern!r}: {bare!r} matches no group or host{hint}")
        except PatternError as err:
            out.append(f"{what} {pattern!r}: {err}")
        return out

    def _matches_any(self, part: str) -> bool:
        from deployer.config.patterns import split_subscript

        expr, _ = split_subscript(part)
        regex = compile_pattern(expr)
        return any(regex.match(n) for n in self.data.groups) or any(
            regex.match(n) for n in self.data.hosts
        )

    def host_vars(self, name: str) -> dict[str, Any]:
        """The host's variables, merged with Ansible's precedence."""
        if name not in self.data.hosts:
            hint = did_you_mean(name, self.data.hosts)
            raise ConfigError(f"no host {name!r} in the inventory{hint}")
        if name not in self._vars:
            self._origins[name] = {}
            self._vars[name] = self._merge(name, self._origins[name])
        return dict(self._vars[name])

    def var_origin(self, name: str, var: str) -> Origin:
        """Where the winning value of host NAME's variable VAR was written."""
        self.host_vars(name)
        return self._origins[name].get(var, (self.host_source(name), NOWHERE))

    def _merge(self, name: str, origins: dict[str, Origin]) -> dict[str, Any]:
        data, files = self.data, self.vars_files
        groups = data.sorted_groups([g for g in data.host_groups(name) if g != "all"])
        merged: dict[str, Any] = dict(data.groups["all"].vars)
        origins.update(data.groups["all"].origins)
        for g in groups:
            merged.update(data.groups[g].vars)
            origins.update(data.groups[g].origins)
        merged.update(files.vars_for("group_vars", ["all"], origins))
        merged.update(files.vars_for("group_vars", groups, origins))
        merged.update(data.hosts[name].vars)
        origins.update(data.hosts[name].origins)
        merged.update(files.vars_for("host_vars", [name], origins))
        return merged

    def host_groups(self, name: str) -> list[str]:
        return [g for g in self.data.host_groups(name) if g != "all"]

    def group_members(self) -> dict[str, list[str]]:
        return {g: self.data.group_hosts(g) for g in self.data.groups}

    def host_source(self, name: str) -> str:
        return self.data.hosts[name].source

    def host_conn(self, name: str) -> HostConn:
        from deployer.config.conn import host_conn

        return host_conn(self, name)


def _inventory_files(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.startswith(".") or name in _IGNORED_NAMES or name.endswith(_IGNORED_EXT):
            continue
        if os.path.isfile(full):
            out.append(full)
    return out


def _parse_source(path: str, data: InventoryData, problems: Problems) -> None:
    text = read_text(path, problems, "inventory")
    if text is None:
        return
    ext = os.path.splitext(path)[1].lower()
    if ext in _YAML_EXT:
        doc = load_text(text, path, problems)
        if doc is not None:
            YamlInventory(doc, data, problems).parse()
        return
    if ext != ".ini":  # no telling extension: YAML if it reads as a YAML mapping
        trial = Problems()
        doc = load_text(text, path, trial)
        if doc is not None and not trial and isinstance(doc.data, dict):
            YamlInventory(doc, data, problems).parse()
            return
    IniInventory(text, path, data, problems).parse()


def load_inventory(paths: list[str]) -> Inventory:
    """Read every `-i` source into one inventory; ConfigError with every problem found."""
    problems = Problems()
    data = InventoryData()
    if not paths:
        raise ConfigError("no inventory given: use -i PATH (an Ansible inventory file or folder)")
    sources: list[str] = []
    for path in paths:
        if not os.path.exists(path) and "," in path:
            for host in (h.strip() for h in path.split(",")):
                if host:
                    data.add_host(host, "ungrouped", "")
            continue
        if not os.path.exists(path):
            problems.add(path, None, (), "inventory not found")
            continue
        sources.append(path)
        for file in _inventory_files(path):
            _parse_source(file, data, problems)
    data.reconcile()
    inv = Inventory(data, sources, problems)
    problems.raise_if_any()
    for name in inv.hosts:  # load group_vars/host_vars now: their problems are config problems
        inv.host_vars(name)
    if not inv.hosts and not problems:
        names = short_list(paths)
        problems.add(paths[0], None, (), f"the inventory ({names}) defines no hosts")
    problems.raise_if_any()
    return inv
