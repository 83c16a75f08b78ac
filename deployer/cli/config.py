"""`deployer hosts` and `deployer validate`: inventories and playbooks, checked offline."""

from __future__ import annotations

import json

import click

from deployer.cli import handle_errors, main
from deployer.cli.vaultopt import given_vault, vault_opt
from deployer.config import load_playbook
from deployer.inventory import load_inventory
from deployer.inventory.conn import PASSWORD_VARS

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventories",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Ansible inventory (YAML, INI, a folder, or 'h1,h2,'); repeat to merge several.",
)


@main.command()
@inventory_option
@vault_opt
@click.argument("pattern", default="all", required=False)
@click.option(
    "--limit", "-l", metavar="PATTERN", help="Further limit the hosts (Ansible pattern, @file)."
)
@click.option("--host", "host", metavar="NAME", help="Print this host's merged variables as JSON.")
@handle_errors
def hosts(inventories: tuple[str, ...], pattern: str, limit: str | None, host: str | None) -> None:
    """List the hosts PATTERN (default: all) matches, one per line, in inventory order."""
    inv = load_inventory(list(inventories), vault=given_vault())
    if host is not None:
        variables = inv.shown_vars(host)  # vaulted values masked
        for key in PASSWORD_VARS & variables.keys():  # ansible-inventory shows it; we never do
            variables[key] = "***"
        click.echo(_as_ansible_inventory(variables))
        return
    for name in inv.match(pattern, limit):
        click.echo(name)


def _as_ansible_inventory(variables: dict[str, object]) -> str:
    """JSON as `ansible-inventory --host` prints it: keys sorted, or, when a mapping's keys
    cannot be compared ({a: 1, 0: 2}), everything in inventory order, with a warning."""
    try:
        return json.dumps(variables, sort_keys=True, indent=4, ensure_ascii=False, default=str)
    except TypeError as err:
        warning = f"could not sort JSON output due to issues while sorting keys: {err}"
        click.echo(f"warning: {warning} (printed in inventory order, as Ansible does)", err=True)
        return json.dumps(variables, indent=4, ensure_ascii=False, default=str)


@main.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_option
@vault_opt
@click.option(
    "-e",
    "--extra-vars",
    "extra_vars",
    multiple=True,
    metavar="KEY=VALUE|@FILE",
    help="Extra variables (highest precedence); repeatable.",
)
@click.option("--limit", "-l", metavar="PATTERN", help="Only these hosts (Ansible pattern, @file).")
@handle_errors
def validate(
    playbook: str, inventories: tuple[str, ...], extra_vars: tuple[str, ...], limit: str | None
) -> None:
    """Check a playbook against an inventory without connecting anywhere."""
    inv = load_inventory(list(inventories), vault=given_vault())
    book = load_playbook(playbook, inv, list(extra_vars), limit)
    hosts = {h.name for play in book.plays for h in play.hosts}
    containers = sum(len(specs) for play in book.plays for specs in play.containers.values())
    plays = len(book.plays)
    click.echo(
        f"ok: {playbook}: {plays} play{'s' * (plays != 1)}, {len(hosts)} host{'s' * (len(hosts) != 1)}, "
        f"{containers} container{'s' * (containers != 1)}"
    )
