"""Ansible inventories as they are: YAML, INI, host lists, folders, several `-i` merged.

Variable precedence follows Ansible's defaults:
  inventory vars of `all` < inventory vars of the host's other groups (by depth,
  ansible_group_priority, name) < group_vars/all < group_vars/<group> (same order)
  < the host's inventory vars < host_vars/<host>.

Ansible Vault: whole vaulted files and `!vault` values are opened with the passwords of
`load_inventory(paths, vault=Vault.from_options([...]))` (without one, those of
ANSIBLE_VAULT_PASSWORD_FILE); a value that cannot be opened is a problem at its place.
"""

from __future__ import annotations

import os
import re
from typing import Any

from deployer.errors import ConfigError
from deployer.inventory.data import InventoryData, Origin
from deployer.inventory.formats import IniInventory, YamlInventory
from deployer.inventory.patterns import (
    Matcher,
    PatternError,
    compile_pattern,
    split_host_pattern,
    split_subscript,
)
from deployer.inventory.varsfiles import VarsFiles
from deployer.inventory.vault import MASK, masked
from deployer.inventory.vaultfiles import VAULT_TAGS, VaultReader
from deployer.inventory.vaultkeys import Vault
from deployer.model import HostConn
from deployer.source.problems import NOWHERE, Problems, did_you_mean, short_list
from deployer.source.yamlpos import load_text

_YAML_EXT = (".yml", ".yaml", ".json")
# What a folder source skips, as ansible-core 2.18 (inventory/manager.py IGNORED): names
# starting with '.', these names, INVENTORY_IGNORE_PATTERNS (ANSIBLE_INVENTORY_IGNORE_REGEX,
# default none) and INVENTORY_IGNORE_EXTS (ANSIBLE_INVENTORY_IGNORE, default REJECT_EXTS
# + .orig .ini .cfg .retry). A file given itself with -i is always read.
IGNORE_EXTS = (
    *(".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst"),
    *(".orig", ".ini", ".cfg", ".retry"),
)
_IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")
_IGNORED_ALWAYS = (rb"^\.", *(b"^%s$" % n.encode() for n in _IGNORED_NAMES))


class Inventory:
    """A loaded inventory: hosts, groups, merged variables, connection settings."""

    def __init__(
        self,
        data: InventoryData,
        sources: list[str],
        problems: Problems,
        vault: VaultReader | None = None,
    ) -> None:
        self.data = data
        self.sources = sources
        self.vault = VaultReader(None, problems) if vault is None else vault
        self.vars_files = VarsFiles(sources, problems, self.vault)
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

    def shown_vars(self, name: str) -> dict[str, Any]:
        """The host's variables with every vaulted value masked ('***'): a value written in a
        vaulted file, and each `!vault` value inside the others."""
        out = self.host_vars(name)
        for var, value in out.items():
            whole = self.var_origin(name, var)[0] in self.vault.files
            out[var] = MASK if whole else masked(value)
        return out

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

    def host_conn(self, name: str, extra: dict[str, Any] | None = None) -> HostConn:
        """extra: -e variables, over the inventory's (ansible_user, ansible_become...)."""
        from deployer.inventory.conn import host_conn

        return host_conn(self, name, extra=extra)


def _env_list(name: str) -> list[str] | None:
    """An Ansible list setting from the environment: split on ',', stripped, unquoted."""
    value = os.environ.get(name)
    if value is None:
        return None
    out = []
    for item in (x.strip() for x in value.split(",")):
        quoted = len(item) > 1 and item[0] == item[-1] and item[0] in "'\"" and item[-2] != "\\"
        out.append(item[1:-1] if quoted else item)
    return out


def ignored_names() -> re.Pattern[bytes]:
    """The regex Ansible searches each name in an inventory folder with; ValueError if bad."""
    exts, regex = _env_list("ANSIBLE_INVENTORY_IGNORE"), "ANSIBLE_INVENTORY_IGNORE_REGEX"
    patterns = _env_list(regex) or []
    exts = list(IGNORE_EXTS) if exts is None else exts
    parts = [
        *_IGNORED_ALWAYS,
        *(os.fsencode(p) for p in patterns),
        *(os.fsencode(re.escape(e)) + b"$" for e in exts),
    ]
    try:
        return re.compile(b"|".join(parts))
    except re.error as err:
        what = f"{regex}={os.environ[regex]!r}"
        for pattern in patterns:
            try:
                re.compile(os.fsencode(pattern))
            except re.error as bad:
                what += f": {pattern!r} is not a valid regular expression ({bad})"
                raise ValueError(what) from None
        what += f": not a valid regular expression once joined with '|' as Ansible does ({err})"
        raise ValueError(what) from None


class _Folders:
    """The files of folder sources, walked as Ansible walks them: names in sorted order,
    subfolders read in place, ignored names skipped (and remembered, for the message)."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.skipped: list[str] = []
        self._ignored: re.Pattern[bytes] | None = None
        self._error = ""
        try:
            self._ignored = ignored_names()
        except ValueError as err:
            self._error = str(err)

    def files(self, path: str) -> list[str]:
        if not os.path.isdir(path):
            return [path]
        out: list[str] = []
        if self._ignored is None:
            self.problems.extend(ConfigError(self._error))  # once: identical ones merge
        else:
            self._walk(path, self._ignored, (), out)
        return out

    def _walk(
        self, path: str, ignored: re.Pattern[bytes], parents: tuple[str, ...], out: list[str]
    ) -> None:
        real = os.path.realpath(path)
        if real in parents:
            self.problems.add(path, None, (), "this folder is inside itself (a symbolic link loop)")
            return
        try:
            names = sorted(os.listdir(path), key=os.fsencode)
        except OSError as err:
            self.problems.add(path, None, (), f"cannot read inventory folder: {err.strerror}")
            return
        for name in names:
            full = os.path.join(path, name)
            if ignored.search(os.fsencode(name)):
                if not name.startswith(".") and name not in _IGNORED_NAMES:
                    self.skipped.append(full)
            elif os.path.isdir(full):
                self._walk(full, ignored, (*parents, real), out)
            elif os.path.isfile(full):
                out.append(full)


def _parse_source(path: str, data: InventoryData, problems: Problems, vault: VaultReader) -> None:
    text = vault.read(path, "inventory")
    if text is None:
        return
    ext = os.path.splitext(path)[1].lower()
    if ext in _YAML_EXT:
        doc = load_text(text, path, problems, VAULT_TAGS)
        if doc is not None:
            vault.reveal(doc)
            YamlInventory(doc, data, problems).parse()
        return
    if ext != ".ini":  # no telling extension: YAML if it reads as a YAML mapping
        trial = Problems()
        doc = load_text(text, path, trial, VAULT_TAGS)
        if doc is not None and not trial and isinstance(doc.data, dict):
            vault.reveal(doc)
            YamlInventory(doc, data, problems).parse()
            return
    IniInventory(text, path, data, problems).parse()


def load_inventory(paths: list[str], vault: Vault | None = None) -> Inventory:
    """Read every `-i` source into one inventory; ConfigError with every problem found.
    VAULT: the passwords of vaulted files and values (default: ANSIBLE_VAULT_PASSWORD_FILE)."""
    problems = Problems()
    data = InventoryData()
    reader = VaultReader(vault, problems)
    if not paths:
        raise ConfigError("no inventory given: use -i PATH (an Ansible inventory file or folder)")
    sources: list[str] = []
    folders = _Folders(problems)
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
        for file in folders.files(path):
            _parse_source(file, data, problems, reader)
    data.reconcile()
    inv = Inventory(data, sources, problems, reader)
    reader.report()
    problems.raise_if_any()
    for name in inv.hosts:  # load group_vars/host_vars now: their problems are the inventory's
        inv.host_vars(name)
    if not inv.hosts and not problems:
        message = (
            f"the inventory ({short_list(paths)}) defines no hosts; deployer needs at least one"
            " (Ansible would go on with only its implicit localhost)"
        )
        if folders.skipped:
            message += (
                f"; skipped in folders, as Ansible skips them: {short_list(folders.skipped)}"
                " (ANSIBLE_INVENTORY_IGNORE and ANSIBLE_INVENTORY_IGNORE_REGEX say which"
                " names are skipped; a file given itself with -i is always read)"
            )
        problems.extend(ConfigError(message))
    reader.report()
    problems.raise_if_any()
    return inv
