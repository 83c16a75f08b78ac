"""Reading Ansible inventory files: YAML (`all:` / hosts / vars / children) and INI.

Both fill an `InventoryData`; every mistake becomes a problem with its position.
Unlike Ansible, which warns and skips, unexpected keys are errors here.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from deployer.inventory.data import CycleError, InventoryData
from deployer.inventory.hostrange import expand_hostpattern
from deployer.source.problems import Key, Mark, Problems, did_you_mean
from deployer.source.yamlpos import Doc

_SECTIONS = ("vars", "children", "hosts")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUPNAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), f"a {type(value).__name__}"
    )


class YamlInventory:
    """Fill `inv` from a loaded YAML inventory document."""

    def __init__(self, doc: Doc, inv: InventoryData, problems: Problems) -> None:
        self.doc, self.inv, self.problems = doc, inv, problems

    def problem(self, mark: Mark, path: tuple[Key, ...], message: str) -> None:
        self.problems.add(self.doc.file, mark, path, message)

    def parse(self) -> None:
        data = self.doc.data
        if data is None:  # empty or comments only: no hosts, as Ansible (its INI plugin takes it)
            return
        if not isinstance(data, dict):
            self.problem(
                self.doc.root,
                (),
                f"a YAML inventory must be a mapping of groups (like 'all:'), not {_type_name(data)}",
            )
            return
        if data.get("plugin"):
            self.problem(
                self.doc.key_pos(data, "plugin"), ("plugin",), "inventory plugins are not supported"
            )
            return
        for name, body in data.items():
            self.group(str(name), body, data, name, (str(name),))

    def group(
        self, name: str, body: object, parent: object, key: Key, path: tuple[Key, ...]
    ) -> None:
        if not isinstance(body, dict | None):
            self.problem(
                self.doc.pos(parent, key),
                path,
                f"a group must be a mapping with hosts/vars/children, not {_type_name(body)}",
            )
            return
        self.inv.add_group(name)
        if not body:
            return
        for section, value in body.items():
            spath = (*path, str(section))
            if section not in _SECTIONS:
                hint = did_you_mean(section, _SECTIONS)
                self.problem(
                    self.doc.key_pos(body, section),
                    spath,
                    f"unknown key {section!r} in group {name!r}; expected hosts, vars or children{hint}",
                )
                continue
            if isinstance(value, str):
                value = {value: None}
            if not isinstance(value, dict | None):
                self.problem(
                    self.doc.pos(body, section),
                    spath,
                    f"must be a mapping, not {_type_name(value)}",
                )
                continue
            if value:
                getattr(self, f"section_{section}")(name, value, spath)

    def section_vars(self, group: str, value: dict[Any, Any], path: tuple[Key, ...]) -> None:
        grp = self.inv.groups[group]
        for var, val in value.items():
            try:
                grp.set_var(str(var), val, (self.doc.file, self.doc.key_pos(value, var)))
            except ValueError as err:
                self.problem(self.doc.pos(value, var), (*path, str(var)), str(err))

    def section_children(self, group: str, value: dict[Any, Any], path: tuple[Key, ...]) -> None:
        for child, body in value.items():
            cpath = (*path, str(child))
            self.group(str(child), body, value, child, cpath)
            try:
                self.inv.add_child(group, str(child))
            except CycleError as err:
                self.problem(self.doc.key_pos(value, child), cpath, str(err))

    def section_hosts(self, group: str, value: dict[Any, Any], path: tuple[Key, ...]) -> None:
        for pattern, hvars in value.items():
            hpath = (*path, str(pattern))
            mark = self.doc.key_pos(value, pattern)
            if not isinstance(pattern, str):
                self.problem(mark, hpath, f"host name {pattern!r} must be a string; quote it")
                continue
            if not isinstance(hvars, dict | None):
                self.problem(
                    self.doc.pos(value, pattern),
                    hpath,
                    f"host variables must be a mapping, not {_type_name(hvars)}",
                )
                continue
            try:
                names, port = expand_hostpattern(pattern)
            except ValueError as err:
                self.problem(mark, hpath, str(err))
                continue
            for host in names:
                entry = self.inv.add_host(host, group, self.doc.file)
                if port is not None:
                    entry.vars["ansible_port"] = port
                    entry.origins["ansible_port"] = (self.doc.file, mark)
                for var, val in (hvars or {}).items():
                    entry.vars[str(var)] = val
                    entry.origins[str(var)] = (self.doc.file, self.doc.key_pos(hvars, var))


def parse_ini_value(text: str) -> Any:
    """Ansible's INI value rule: a Python literal if it is one, else the text itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is ... or isinstance(value, complex):
        return str(value) if value is not ... else "..."
    return value


def _plain_key(key: Any) -> Any:
    """Keys JSON can hold keep their type, as in Ansible ({0: 'a'} stays an int key)."""
    if key is None or isinstance(key, str | int | float):
        return key
    text = _plain(key)
    return text if isinstance(text, str) else str(key)


class IniInventory:
    """Fill `inv` from the lines of an INI inventory."""

    def __init__(self, text: str, path: str, inv: InventoryData, problems: Problems) -> None:
        self.text, self.path, self.inv, self.problems = text, path, inv, problems
        self.pending: dict[str, dict[str, Any]] = {}

    def problem(self, line: int, column: int, where: str, message: str) -> None:
        self.problems.add(self.path, Mark(line, column), (where,), message)

    def parse(self) -> None:
        group, state = "ungrouped", "hosts"
        for number, raw in enumerate(self.text.splitlines(), start=1):
            line = raw.strip()
            column = len(raw) - len(raw.lstrip()) + 1
            if not line or line[0] in "#;":
                continue
            m = _SECTION.match(line)
            if m:
                group, state = self.section(m.group(1), m.group(2) or "hosts", number, column)
                continue
            if line.startswith("[") and line.endswith("]"):
                self.problem(number, column, line, "invalid section header (no spaces allowed)")
                continue
            where = f"[{group}]" if state == "hosts" else f"[{group}:{state}]"
            if state == "hosts":
                self.host_line(line, group, number, column, where)
            elif state == "vars":
                self.var_line(line, group, number, column, where)
            elif state == "children":
                self.child_line(line, group, number, column, where)
        for name, decl in self.pending.items():
            if decl["state"] == "vars":
                msg = f"[{name}:vars] is for group {name!r}, which is never defined"
                self.problem(decl["line"], 1, f"[{name}:vars]", msg)
            else:
                parent = decl["parents"][-1]
                msg = f"[{parent}:children] names group {name!r}, which is never defined"
                self.problem(decl["line"], 1, f"[{parent}:children]", msg)

    def section(self, name: str, state: str, number: int, column: int) -> tuple[str, str]:
        if state not in _SECTIONS:
            hint = did_you_mean(state, _SECTIONS)
            self.problem(
                number, column, f"[{name}:{state}]", f"unknown section type {state!r}{hint}"
            )
            return name, "skip"
        if name not in self.inv.groups:
            if state == "vars" and name not in self.pending:
                self.pending[name] = {"line": number, "state": state}
            self.inv.add_group(name)
        decl = self.pending.get(name)
        if decl and state != "vars":
            if decl["state"] == "children":
                self.add_pending_children(name)
            else:
                del self.pending[name]
        return name, state

    def add_pending_children(self, group: str) -> None:
        for parent in self.pending[group]["parents"]:
            self.add_child(parent, group, self.pending[group]["line"])
            if parent in self.pending and self.pending[parent]["state"] == "children":
                self.add_pending_children(parent)
        self.pending.pop(group, None)

    def add_child(self, parent: str, child: str, number: int) -> None:
        try:
            self.inv.add_child(parent, child)
        except CycleError as err:
            self.problem(number, 1, f"[{parent}:children]", str(err))

    def host_line(self, line: str, group: str, number: int, column: int, where: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as err:
            self.problem(number, column, where, f"cannot read host line: {err}")
            return
        if not tokens:
            return
        try:
            names, port = expand_hostpattern(tokens[0])
            if any(n.strip() == "---" for n in names):
                raise ValueError(
                    "'---' is not a host name; is this a YAML file with a wrong extension?"
                )
        except ValueError as err:
            self.problem(number, column, where, str(err))
            return
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            if "=" not in token:
                self.problem(
                    number, column, where, f"expected key=value after the host name, got {token!r}"
                )
                return
            key, value = token.split("=", 1)
            variables[key] = parse_ini_value(value)
        for name in names:
            host = self.inv.add_host(name, group, self.path)
            if port is not None:
                variables = {"ansible_port": port, **variables}
            host.vars.update(variables)
            host.origins.update({k: (self.path, Mark(number, column)) for k in variables})

    def var_line(self, line: str, group: str, number: int, column: int, where: str) -> None:
        if "=" not in line:
            self.problem(number, column, where, f"expected key=value, got {line!r}")
            return
        key, value = (part.strip() for part in line.split("=", 1))
        try:
            self.inv.groups[group].set_var(
                key, parse_ini_value(value), (self.path, Mark(number, column))
            )
        except ValueError as err:
            self.problem(number, column, where, str(err))

    def child_line(self, line: str, group: str, number: int, column: int, where: str) -> None:
        m = _GROUPNAME.match(line)
        if not m:
            self.problem(number, column, where, f"expected a group name, got {line!r}")
            return
        child = m.group(1)
        if child in self.inv.groups:
            self.add_child(group, child, number)
        elif child in self.pending:
            self.pending[child].setdefault("parents", []).append(group)
        else:
            self.pending[child] = {"line": number, "state": "children", "parents": [group]}
