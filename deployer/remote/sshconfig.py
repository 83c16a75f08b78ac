"""What ~/.ssh/config says about a host that the inventory does not: its ProxyJump."""

from __future__ import annotations

import os

import paramiko

SSH_CONFIG = "~/.ssh/config"


def ssh_config_jump(address: str, path: str | None = None) -> str | None:
    """ProxyJump for ADDRESS from ~/.ssh/config, if that file exists and sets one."""
    full = os.path.expanduser(path or SSH_CONFIG)
    if not os.path.isfile(full):
        return None
    try:
        config = paramiko.SSHConfig.from_path(full)
        value = config.lookup(address).get("proxyjump")
    except Exception:  # an unreadable ssh config is not the inventory's fault
        return None
    if not value or str(value).lower() == "none":
        return None
    return str(value)
