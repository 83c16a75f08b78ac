"""config/: inventories and playbooks -> desired state per host, every problem collected.

Public API:
    load_inventory(paths) -> Inventory       (.match, .host_vars, .host_conn)
    load_playbook(path, inventory, extra_vars=[], limit=None) -> deployer.model.Playbook
    parse_extra_vars(items) -> dict
All raise deployer.errors.ConfigError carrying every problem found.
"""

from __future__ import annotations

from deployer.config.extravars import parse_extra_vars
from deployer.config.inventory import Inventory, load_inventory
from deployer.config.playbook import load_playbook

__all__ = ["Inventory", "load_inventory", "load_playbook", "parse_extra_vars"]
