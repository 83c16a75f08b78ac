"""The inventory graph: groups, hosts, membership and depth, built as Ansible builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.source.problems import Mark

Origin = tuple[str, Mark]  # (file, position) where a variable was set


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    depth: int = 0
    priority: int = 1

    def set_var(self, key: str, value: Any, origin: Origin) -> None:
        """Set a group variable; ansible_group_priority sets the priority instead, as in Ansible."""
        if key == "ansible_group_priority":
            try:
                self.priority = int(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"ansible_group_priority must be a whole number, got {value!r}"
                ) from None
            return
        self.vars[key] = value
        self.origins[key] = origin


@dataclass
class Host:
    name: str
    source: str  # the inventory file that first defined the host
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct membership


class CycleError(ValueError):
    pass


class InventoryData:
    """Groups and hosts in definition order. `all` and `ungrouped` always exist."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def add_group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, name: str, group: str, source: str) -> Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, source)
        grp = self.add_group(group)
        if name not in grp.hosts:
            grp.hosts.append(name)
        if group not in host.groups:
            host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str) -> None:
        """Make `child` a child group of `parent`; CycleError if that would make a loop."""
        if child == "all":  # every group ends up in it: a loop once reconciled
            raise CycleError(f"group 'all' cannot be a child of {parent!r}: it holds every group")
        if parent == child or child in self.ancestors(parent):
            raise CycleError(f"group {child!r} cannot be a child of {parent!r}: that makes a loop")
        pgroup, cgroup = self.add_group(parent), self.add_group(child)
        if child not in pgroup.children:
            pgroup.children.append(child)
            cgroup.parents.append(parent)
        self._deepen(cgroup, pgroup.depth + 1)

    def _deepen(self, group: Group, depth: int) -> None:
        todo = [(group, depth)]
        while todo:
            grp, d = todo.pop()
            if d > grp.depth:
                grp.depth = d
                todo.extend((self.groups[c], d + 1) for c in grp.children)

    def ancestors(self, group: str) -> list[str]:
        seen: list[str] = []
        todo = list(self.groups[group].parents) if group in self.groups else []
        while todo:
            g = todo.pop(0)
            if g not in seen:
                seen.append(g)
                todo.extend(self.groups[g].parents)
        return seen

    def descendants(self, group: str) -> list[str]:
        """The group and its descendants, breadth first in definition order (Ansible's walk)."""
        ordered = [group]
        seen = {group}
        level = [group]
        while level:
            nxt: list[str] = []
            for g in level:
                for child in self.groups[g].children:
                    if child not in seen:
                        seen.add(child)
                        ordered.append(child)
                        nxt.append(child)
            level = nxt
        return ordered

    def group_hosts(self, group: str) -> list[str]:
        """Hosts of a group and of its descendants, in inventory order."""
        out: list[str] = []
        seen: set[str] = set()
        for g in self.descendants(group):
            for h in self.groups[g].hosts:
                if h not in seen:
                    seen.add(h)
                    out.append(h)
        return out

    def host_groups(self, host: str) -> list[str]:
        """Every group the host belongs to, directly or through a parent group."""
        out: list[str] = []
        for g in self.hosts[host].groups:
            for name in [g, *self.ancestors(g)]:
                if name not in out:
                    out.append(name)
        return out

    def reconcile(self) -> None:
        """Every top group under `all`; hosts in no other group go to `ungrouped`."""
        for name, grp in self.groups.items():
            if name != "all" and not grp.parents:
                self.add_child("all", name)
        ungrouped = self.groups["ungrouped"]
        for name in self.hosts:
            groups = set(self.host_groups(name))
            if "ungrouped" in groups:
                if groups - {"all", "ungrouped"} and name in ungrouped.hosts:
                    ungrouped.hosts.remove(name)
                    self.hosts[name].groups.remove("ungrouped")
            elif groups <= {"all"}:
                self.add_host(name, "ungrouped", self.hosts[name].source)

    def sorted_groups(self, names: list[str]) -> list[str]:
        """Ansible's merge order: by depth, then ansible_group_priority, then name."""

        def key(name: str) -> tuple[int, int, str]:
            grp = self.groups[name]
            return (grp.depth, grp.priority, name)

        return sorted(names, key=key)
