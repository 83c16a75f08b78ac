"""What a command that reads or operates on hosts (health, ps, logs, exec, restart, ...)
works on: a playbook's plays, or without one the inventory's hosts matching `--limit`.
Either way the `-e` variables are on every host, over their own (as in Ansible)."""

from __future__ import annotations

from deployer.cli.vaultopt import given_vault
from deployer.model import HostConn, Playbook


def select(
    inventories: tuple[str, ...],
    playbook_path: str | None,
    extra: tuple[str, ...],
    limit: str | None,
) -> tuple[list[HostConn], Playbook | None]:
    """([], the playbook) with a playbook (its secrets unread: none of these commands needs
    a secret's value), else (the inventory's hosts, None)."""
    from deployer.config import load_playbook, parse_extra_vars
    from deployer.config.schema import secrets_unread
    from deployer.health.gather import with_vars
    from deployer.inventory import load_inventory

    inventory = load_inventory(list(inventories), vault=given_vault())
    extra_vars = parse_extra_vars(list(extra))
    if playbook_path is not None:
        with secrets_unread():
            playbook = load_playbook(playbook_path, inventory, list(extra), limit)
        return [], with_vars(playbook, extra_vars)
    # -e sets connection variables too (ansible_user, ansible_become...), as in Ansible
    return [inventory.host_conn(name, extra_vars) for name in inventory.match("all", limit)], None
