"""`deployer swarm init|status`, and `deploy`/`rollback` of `target: swarm` plays."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from deployer.cli import handle_errors, main
from deployer.cli.vaultopt import given_vault, vault_opt
from deployer.errors import ConfigError
from deployer.report.safe import visible


@main.group()
def swarm() -> None:
    """Docker Swarm: make a swarm of inventory hosts, show its nodes and services."""


_inv = click.option(
    "-i", "--inventory", "inventories", multiple=True, required=True, help="Inventory; repeatable."
)
_keys = click.option("--accept-new-host-keys", is_flag=True, help="Trust and record unknown keys.")


def _match(inventories: tuple[str, ...], pattern: str | None) -> list[Any]:
    from deployer.inventory import load_inventory

    inv = load_inventory(list(inventories), vault=given_vault())
    return [inv.host_conn(n) for n in inv.match(pattern)] if pattern else []


@swarm.command("init")
@_inv
@vault_opt
@click.option("--managers", required=True, metavar="PATTERN", help="Hosts that manage the swarm.")
@click.option("--workers", default=None, metavar="PATTERN", help="Hosts that only run tasks.")
@_keys
@handle_errors
def init(
    inventories: tuple[str, ...], managers: str, workers: str | None, accept_new_host_keys: bool
) -> None:
    """Make a swarm: the first manager inits it, the others join (idempotent)."""
    from deployer.targets import swarm_nodes

    rows = swarm_nodes.init(
        _match(inventories, managers), _match(inventories, workers), accept_new_host_keys
    )
    failed = False
    for host, what in rows:
        click.echo(f"{host}: {visible(what)}")
        failed = failed or "FAILED" in what
    sys.exit(3 if failed else 0)


@swarm.command("status")
@_inv
@vault_opt
@click.option("--managers", default="all", show_default=True, metavar="PATTERN")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@_keys
@handle_errors
def status(
    inventories: tuple[str, ...], managers: str, output: str, accept_new_host_keys: bool
) -> None:
    """The swarm's nodes and services, through the first manager that answers."""
    from deployer.targets.swarm import SwarmManager

    conns = _match(inventories, managers)
    mgr = SwarmManager(tuple(conns), accept_new_host_keys)
    mgr.add_names(_match(inventories, "all"))
    try:
        mgr.connect()
        nodes = mgr.nodes()
        services = [(s["Spec"]["Name"], mgr.standing(s["Spec"]["Name"])) for s in mgr.services()]
    finally:
        mgr.close()
    if output == "json":
        doc = {
            "manager": mgr.host,
            "nodes": [n.__dict__ for n in nodes],
            "services": [{"name": n, **s.summary()} for n, s in services],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"manager: {mgr.host}")
    click.echo("nodes:")
    for n in nodes:
        lead = " leader" if n.leader else ""
        click.echo(
            visible(
                f"  {n.name:<12} {n.address:<16} {n.role}{lead}, {n.state}, "
                f"{n.availability}, engine {n.engine}"
            )
        )
    click.echo("services:")
    for name, s in services:
        click.echo(visible(f"  {name:<16} {s.running}/{s.wanted} on {s.image} ({s.phase})"))


def check_plays(pb: Any, opts: dict[str, Any]) -> None:
    """What a swarm playbook's run cannot do (yet): input errors, before anything is built."""
    if not all(p.target == "swarm" for p in pb.plays):
        raise ConfigError(
            f"{pb.path}: a playbook with `target: swarm` plays cannot also have host plays "
            "(yet): put them in their own playbook"
        )
    if opts.get("to"):
        raise ConfigError("--to: a swarm service rolls back to its previous spec only")
    if opts.get("prune_undeclared"):
        raise ConfigError("--prune-undeclared: not for swarm plays (remove a service yourself)")


def deploy(
    pb: Any,
    output: str,
    diff: bool,
    opts: dict[str, Any],
    known: list[Any],
    on_event: Callable[[str, str], None],
    record_run: Callable[[dict[str, Any]], None],
) -> None:
    """`deploy`/`rollback` when the playbook's plays are swarm plays: render and exit.
    `on_event` and `record_run` come from cli/deploy.py (no import back: no circle)."""
    from deployer.engine.swarm import SwarmOptions, run
    from deployer.targets.swarm import SwarmManager

    check_plays(pb, opts)
    options = SwarmOptions(
        check=bool(opts.get("check")),
        force=bool(opts.get("force")),
        rollback=bool(opts.get("rollback")),
        on_event=on_event,
    )
    managers = tuple(dict.fromkeys(h for p in pb.plays for h in p.hosts))
    mgr = SwarmManager(managers, bool(opts.get("accept_new_host_keys")))
    mgr.add_names(known)
    try:
        mgr.connect()
        report = run(mgr, list(pb.plays), options)
    finally:
        mgr.close()
    data = report.to_json()
    record_run(data | {"command": "rollback" if options.rollback else "deploy"})
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        _render(report, diff or options.check)
    sys.exit(report.exit_code)


def _render(report: Any, diff: bool) -> None:
    click.echo(f"swarm, through manager {report.manager}:")
    for o in report.outcomes:
        line = f"  {o.service}: {o.status.upper() if o.status == 'failed' else o.status}"
        line += f" {o.image}" if o.image else ""
        line += f" ({o.seconds:.1f}s)" if o.seconds else ""
        click.echo(visible(line))
        if o.reason:
            click.echo(visible(f"    reason: {o.reason}", multiline=True))
        for node, images in sorted(o.nodes.items()):
            click.echo(visible(f"    {node or '(not placed)'}: {', '.join(images)}"))
        for node in o.down_nodes:
            click.echo(visible(f"    {node}: DOWN"))
        if diff:
            for d in o.diff:
                click.echo(visible(f"    ~ {d}"))
    ok = sum(1 for o in report.outcomes if o.status != "failed")
    click.echo(f"{ok}/{len(report.outcomes)} services ok in {report.seconds:.1f}s")


def health_section(
    book: Any, hosts: list[Any], text: str, code: int, output: str, accept_new: bool
) -> tuple[str, int]:
    """`health` of a playbook with swarm plays: the hosts' report, then the swarm's nodes
    and the plays' services (text, or a "swarm" key in JSON); the worse exit code."""
    from deployer.health.swarm import judge
    from deployer.health.swarm import text as swarm_text
    from deployer.targets.swarm import SwarmManager

    plays = [p for p in book.plays if p.target == "swarm"]
    managers = tuple(dict.fromkeys(h for p in plays for h in p.hosts))
    mgr = SwarmManager(managers, accept_new)
    mgr.add_names(hosts)
    try:
        mgr.connect()
        nodes = mgr.nodes()
        names = [s.name for p in plays for s in p.containers.get(p.hosts[0].name, ())]
        services = {n: (mgr.standing(n) if mgr.service(n) else None) for n in names}
    finally:
        mgr.close()
    health = judge(mgr.host, nodes, services)
    if output == "json":
        doc = json.loads(text)
        doc["swarm"] = health.to_dict()
        text = json.dumps(doc, indent=2) + "\n"
    elif output == "text":
        text += "\n" + swarm_text(health)
    return text, max(code, health.exit_code)
