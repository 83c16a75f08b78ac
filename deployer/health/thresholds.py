"""Thresholds of the health verdict, for the health room.

Their defaults, names (docs/health.md) and reading live in deployer.config.thresholds,
where every other variable is read: `validate`, `deploy` and `health PLAYBOOK` report a
bad one at its file:line. `from_vars` reads a host's variables without positions (as
`health` without a playbook, and the deploy summary, need).
"""

from __future__ import annotations

from deployer.config.thresholds import NAMES, PREFIX, Thresholds, read
from deployer.errors import ConfigError

__all__ = ["NAMES", "PREFIX", "Thresholds", "from_vars"]


def from_vars(host: str, variables: dict[str, object]) -> Thresholds:
    """The host's thresholds; ConfigError naming every bad variable. (The config room reads
    the same variables with their positions: `validate` and `deploy` stop there first.)"""
    result, bad = read(variables)
    if bad:
        raise ConfigError([f"host {host}: {b.sentence}" for b in bad])
    return result
