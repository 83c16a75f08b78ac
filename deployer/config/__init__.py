"""config/: the playbook language: playbooks (with -e extra vars) over a loaded inventory
-> desired state per host, every problem collected with file:line:column and key path.

Public API:
    load_playbook(path, inventory, extra_vars=[], limit=None) -> deployer.model.Playbook
    parse_extra_vars(items) -> dict
All raise deployer.errors.ConfigError carrying every problem found. The inventory is
deployer.inventory's.
"""

from __future__ import annotations

from deployer.config.extravars import parse_extra_vars
from deployer.config.playbook import load_playbook

__all__ = ["load_playbook", "parse_extra_vars"]
