"""Playbooks: a YAML list of plays, checked in full and rendered per host into the model.

Every problem is collected (file:line:column: key.path: message) before anything
connects anywhere; `load_playbook` raises one ConfigError carrying all of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from deployer.config.checks import Binding, check_ports
from deployer.config.containers import CONTAINER_KEYS, ContainerBuilder
from deployer.config.extravars import Origins, check_extra_vars
from deployer.config.lifecycle import check_depends
from deployer.config.networks import check_declared, parse_play_networks
from deployer.config.registry import parse_registry
from deployer.config.schema import Ctx, Path, type_name
from deployer.config.swarm import attach as attach_swarm
from deployer.config.swarm import parse_target
from deployer.config.thresholds import check_thresholds
from deployer.config.values import parse_percent, parse_serial_item
from deployer.errors import ConfigError
from deployer.inventory import Inventory
from deployer.inventory.conn import PASSWORD_VARS, host_conn
from deployer.model import ContainerSpec, HostConn, NetworkSpec, Play, Playbook, ProxySpec
from deployer.source.problems import Mark, Problems
from deployer.source.yamlpos import load_file
from deployer.template.render import Renderer, TemplateError, has_template

PLAY_KEYS = (
    "name",
    "hosts",
    "vars",
    "serial",
    "max_fail_percentage",
    "become",
    "registry",
    "networks",
    "containers",
    "target",
)


def magic_vars(inv: Inventory, host: str, playbook: str) -> dict[str, Any]:
    return {
        "inventory_hostname": host,
        "inventory_hostname_short": host.split(".")[0],
        "group_names": sorted(g for g in inv.host_groups(host) if g != "ungrouped"),
        "groups": inv.group_members(),
        "playbook_dir": os.path.dirname(os.path.abspath(playbook)),
    }


class PlaybookLoader:
    def __init__(
        self,
        path: str,
        inv: Inventory,
        extra: dict[str, Any],
        limit: str | None,
        problems: Problems,
        extra_origins: Origins | None = None,
    ) -> None:
        self.path, self.inv, self.extra, self.limit = path, inv, extra, limit
        self.problems = problems
        self.extra_origins = extra_origins or {}
        self.base_dir = os.path.dirname(os.path.abspath(path))
        self.conns: dict[str, HostConn] = {}
        self.bindings: dict[str, list[Binding]] = {}

    def load(self) -> Playbook | None:
        doc = load_file(self.path, self.problems, "playbook", base60=False)
        if doc is None:
            return None
        ctx = Ctx(doc, self.problems)
        data = doc.data
        if not isinstance(data, list) or not data:
            what = "empty" if data in (None, []) else type_name(data)
            self.problems.add(
                doc.file, doc.root, (), f"a playbook must be a non-empty list of plays, not {what}"
            )
            return None
        plays = []
        for i, raw in enumerate(data):
            path: Path = ("plays", i)
            if not isinstance(raw, dict):
                ctx.error(data, i, path, f"a play must be a mapping, not {type_name(raw)}")
                continue
            play = self.play(ctx, raw, path)
            if play is not None:
                plays.append(play)
        if self.limit is not None and plays and not any(p.hosts for p in plays):
            self.problems.add(
                doc.file, doc.root, (), f"--limit {self.limit!r} leaves no hosts in any play"
            )
        check_ports(ctx, self.bindings)
        return Playbook(path=self.path, plays=tuple(plays))

    def play(self, ctx: Ctx, raw: dict[Any, Any], path: Path) -> Play | None:
        ctx.check_keys(raw, path, PLAY_KEYS, required=("hosts",))
        raw_vars = ctx.mapping(raw, "vars", (*path, "vars"), "vars") or {}
        play_vars = {str(k): v for k, v in raw_vars.items()}
        static = Renderer({**play_vars, **self.extra})
        name = self.static_text(ctx, static, raw, "name", path) or f"play {path[-1]}"
        hosts = self.hosts(ctx, static, raw, path)
        serial = self.serial(ctx, static, raw, path)
        max_fail = self.max_fail(ctx, static, raw, path)
        networks = parse_play_networks(ctx, raw, path)
        containers = self.containers(ctx, raw, path, hosts, play_vars, networks)
        target = parse_target(ctx, raw, path)
        containers = attach_swarm(ctx, raw, path, target, containers)
        registry = parse_registry(
            ctx, raw, path, hosts, self.renderers(hosts, play_vars), self.base_dir
        )
        become = self.become(ctx, raw, path)
        conns = tuple(self.play_conn(h, play_vars, become) for h in hosts)
        for conn in conns:
            self.thresholds(ctx, conn, raw_vars, (*path, "vars"))
        mark = ctx.doc.own(raw)
        return Play(
            name=name,
            hosts=conns,
            containers=containers,
            serial=serial,
            max_fail_percentage=max_fail,
            registry=registry,
            source=f"{ctx.doc.file}:{mark.line}",
            networks=networks,
            target=target,
        )

    def conn(self, host: str, become: bool = False) -> HostConn:
        """The host's connection: its inventory's variables under -e's (ansible_user,
        ansible_become...); `become`: the play's, for hosts whose ansible_become is unset."""
        key = f"{host}\0{become}"
        if key not in self.conns:
            self.conns[key] = host_conn(
                self.inv, host, self.problems, extra=self.extra, become=become
            )
        return self.conns[key]

    def become(self, ctx: Ctx, raw: dict[Any, Any], path: Path) -> bool:
        """The play's `become:` (true/false; absent: false)."""
        value = raw.get("become")
        if value is None or isinstance(value, bool):
            return bool(value)
        ctx.error(raw, "become", (*path, "become"), f"must be true or false, not {value!r}")
        return False

    def play_conn(self, host: str, play_vars: dict[str, Any], become: bool = False) -> HostConn:
        """The host's connection, its variables as this play sees them (inventory, then the
        play's vars, then -e): the health thresholds are read from them."""
        conn = self.conn(host, become)
        layered = {k: v for k, v in {**play_vars, **self.extra}.items() if k not in PASSWORD_VARS}
        return dataclasses.replace(conn, vars={**conn.vars, **layered}) if layered else conn

    def thresholds(self, ctx: Ctx, conn: HostConn, raw_vars: dict[Any, Any], path: Path) -> None:
        """Bad deployer_health_* values, each where its winning value was written."""
        keys = {str(k): k for k in raw_vars}

        def where(var: str) -> tuple[str, Mark | None, Path]:
            if var in self.extra:
                file, mark = self.extra_origins.get(var, (f"-e {var}", None))
                return file, mark, (var,)
            if var in keys:
                return ctx.doc.file, ctx.doc.key_pos(raw_vars, keys[var]), (*path, var)
            file, mark = self.inv.var_origin(conn.name, var)
            return file, mark, (var,)

        check_thresholds(conn.vars, where, conn.name, self.problems)

    # Connection passwords never reach a template: `{{ ansible_password }}` is undefined,
    # so it cannot land in an env value, a label or a command line.
    def renderers(self, hosts: list[str], play_vars: dict[str, Any]) -> dict[str, Renderer]:
        out = {}
        for h in hosts:
            host_vars = {k: v for k, v in self.inv.host_vars(h).items() if k not in PASSWORD_VARS}
            layered = {
                **host_vars,
                **magic_vars(self.inv, h, self.path),
                **play_vars,
                **self.extra,
            }
            out[h] = Renderer(layered)
        return out

    def static_text(
        self, ctx: Ctx, r: Renderer, raw: dict[Any, Any], key: str, path: Path
    ) -> str | None:
        if key not in raw:
            return None
        try:
            value = r.render(raw[key])
        except TemplateError as err:
            ctx.error(
                raw, key, (*path, key), f"{err} (only play vars and -e vars can be used here)"
            )
            return None
        if (
            not isinstance(value, str | int | float)
            or isinstance(value, bool)
            or not str(value).strip()
        ):
            ctx.error(
                raw, key, (*path, key), f"{key} must be a non-empty string, not {type_name(value)}"
            )
            return None
        return str(value)

    def hosts(self, ctx: Ctx, r: Renderer, raw: dict[Any, Any], path: Path) -> list[str]:
        value = raw.get("hosts")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            raw = {**raw, "hosts": ",".join(value)}  # Ansible accepts a list of patterns
        pattern = self.static_text(ctx, r, raw, "hosts", path) if "hosts" in raw else None
        if pattern is None:
            return []
        try:
            matched = self.inv.match(pattern)
        except ConfigError as err:
            for problem in err.problems:
                ctx.error(raw, "hosts", (*path, "hosts"), problem)
            return []
        if self.limit is None:
            return matched
        try:
            return self.inv.match(pattern, self.limit)
        except ConfigError:
            return []

    def serial(
        self, ctx: Ctx, r: Renderer, raw: dict[Any, Any], path: Path
    ) -> tuple[int | str, ...]:
        if raw.get("serial") is None:
            return ()
        try:
            value = r.render(raw["serial"])
            items = value if isinstance(value, list) else [value]
            if not items:
                raise ValueError("serial must not be an empty list")
            return tuple(parse_serial_item(v) for v in items)
        except (TemplateError, ValueError) as err:
            ctx.error(raw, "serial", (*path, "serial"), str(err))
            return ()

    def max_fail(self, ctx: Ctx, r: Renderer, raw: dict[Any, Any], path: Path) -> float | None:
        if raw.get("max_fail_percentage") is None:
            return None
        try:
            return parse_percent(r.render(raw["max_fail_percentage"]))
        except (TemplateError, ValueError) as err:
            ctx.error(raw, "max_fail_percentage", (*path, "max_fail_percentage"), str(err))
            return None

    def containers(
        self,
        ctx: Ctx,
        raw: dict[Any, Any],
        path: Path,
        hosts: list[str],
        play_vars: dict[str, Any],
        networks: tuple[NetworkSpec, ...] = (),
    ) -> dict[str, tuple[ContainerSpec, ...]]:
        items = raw.get("containers")
        cpath = (*path, "containers")
        if items is None or items == []:
            ctx.error(
                raw,
                "containers" if "containers" in raw else "hosts",
                cpath,
                "a play needs a non-empty 'containers' list",
            )
            return {}
        if not isinstance(items, list):
            ctx.error(
                raw, "containers", cpath, f"containers must be a list, not {type_name(items)}"
            )
            return {}
        good = []
        for j, item in enumerate(items):
            if not isinstance(item, dict):
                ctx.error(
                    items, j, (*cpath, j), f"a container must be a mapping, not {type_name(item)}"
                )
                continue
            # image is required unless state: absent (config/lifecycle.py says so)
            ctx.check_keys(item, (*cpath, j), CONTAINER_KEYS, required=("name",))
            good.append(j)
        renderers = self.renderers(hosts, play_vars)
        if not hosts:  # the pattern failed: still check what can be checked without a host
            renderers[""] = Renderer({**play_vars, **self.extra})
        out: dict[str, tuple[ContainerSpec, ...]] = {}
        for host in hosts or [""]:
            specs: list[ContainerSpec] = []
            seen: dict[str, int] = {}
            routes: dict[tuple[str | None, str], int] = {}
            for j in good:
                spec = ContainerBuilder(
                    ctx, items[j], (*cpath, j), renderers[host], host, self.base_dir
                ).build()
                if spec is None:
                    continue
                if spec.name in seen:
                    first = ctx.doc.pos(items, seen[spec.name]).line
                    ctx.error(
                        items[j],
                        "name",
                        (*cpath, j, "name"),
                        f"two containers named {spec.name!r} on one host (the other on line {first})",
                        host=host if has_template(items[j]["name"]) else None,
                    )
                    continue
                seen[spec.name] = j
                if spec.proxy is not None:
                    self.same_route(ctx, items, cpath, j, spec.proxy, routes, host)
                if spec.networks and host == (hosts or [""])[0]:  # the same on every host
                    check_declared(ctx, items[j], (*cpath, j), spec.networks, raw, bool(spec.proxy))
                specs.append(spec)
                binds = self.bindings.setdefault(host, []) if host else []
                binds.extend(Binding(spec.name, p, items[j], (*cpath, j)) for p in spec.ports)
            check_depends(ctx, items, cpath, specs, seen, host)
            if host:
                out[host] = tuple(specs)
        return out

    @staticmethod
    def same_route(
        ctx: Ctx,
        items: list[Any],
        cpath: Path,
        j: int,
        proxy: ProxySpec,
        routes: dict[tuple[str | None, str], int],
        host: str,
    ) -> None:
        """Two containers of one host behind the proxy with the same host and path: the
        second route would never get a request."""
        key = (proxy.host, proxy.path)
        if key not in routes:
            routes[key] = j
            return
        first = ctx.doc.pos(items, routes[key]).line
        ctx.error(
            items[j],
            "proxy",
            (*cpath, j, "proxy"),
            f"two containers behind the proxy with host {proxy.host or '(any)'} and path "
            f"{proxy.path} on one host (the other on line {first}): give one another host or "
            "path",
            host=host if has_template(json.dumps(items[j].get("proxy"), default=str)) else None,
        )


def load_playbook(
    path: str, inventory: Inventory, extra_vars: list[str] | None = None, limit: str | None = None
) -> Playbook:
    """Read, check and render a playbook for the inventory; ConfigError with all problems."""
    problems = Problems()
    origins: Origins = {}
    extra = check_extra_vars(list(extra_vars or []), problems, origins)
    if limit is not None and inventory.pattern_problems(limit, "--limit"):
        problems.extend(ConfigError(inventory.pattern_problems(limit, "--limit")))
    playbook = PlaybookLoader(path, inventory, extra, limit, problems, origins).load()
    problems.raise_if_any()
    assert playbook is not None
    return playbook
