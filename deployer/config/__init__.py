"""config/: the playbook language: playbooks (with -e extra vars) over a loaded inventory
-> desired state per host, every problem collected with file:line:column and key path.

Public API:
    load_playbook(path, inventory, extra_vars=[], limit=None) -> deployer.model.Playbook
    parse_extra_vars(items) -> dict
All raise deployer.errors.ConfigError carrying every problem found. The inventory is
deployer.inventory's (load_inventory is handed on here for the commands that still
import it from config).
"""

from __future__ import annotations

from deployer.config.extravars import parse_extra_vars
from deployer.config.playbook import load_playbook
from deployer.inventory import load_inventory

__all__ = ["load_inventory", "load_playbook", "parse_extra_vars"]
