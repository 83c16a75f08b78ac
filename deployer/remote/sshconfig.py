"""What ~/.ssh/config (then /etc/ssh/ssh_config, as ssh reads them) says about a host that
the inventory does not: its real address (HostName), its keys (IdentityFile), its jump host
(ProxyJump) or its ProxyCommand. Read with paramiko's own parser, once per process and file
version, not once per host."""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import paramiko

SSH_CONFIG = "~/.ssh/config"
SYSTEM_SSH_CONFIG = "/etc/ssh/ssh_config"


@functools.lru_cache(maxsize=16)
def _parsed(paths: tuple[tuple[str, int, int], ...], port: int | None) -> paramiko.SSHConfig:
    """The files (path, mtime, size: a changed file is read again) in one parser, the first
    one's values first, as ssh takes them. `port`: the inventory's, ahead of them all (as
    `ssh -p` is), so that a ProxyCommand's %p is the port deployer connects to."""
    config = paramiko.SSHConfig()
    if port is not None:
        config.parse(io.StringIO(f"Host *\n    Port {int(port)}\n"))
    for path, _mtime, _size in paths:
        with open(path) as f:
            config.parse(f)
    return config


def lookup(address: str, path: str | None = None, port: int | None = None) -> dict[str, Any]:
    """What the ssh config files say for ADDRESS (paramiko's lookup: `hostname` is ADDRESS
    when none sets another); {} when there is none or it cannot be read: an unreadable ssh
    config is not the inventory's fault. `path`: that one file instead of the two; `port`:
    the port the inventory gives (see _parsed)."""
    files = [path] if path else [SSH_CONFIG, SYSTEM_SSH_CONFIG]
    found = []
    for name in files:
        full = os.path.expanduser(name)
        try:
            st = os.stat(full)
        except OSError:
            continue
        found.append((full, st.st_mtime_ns, st.st_size))
    if not found:
        return {}
    try:
        return dict(_parsed(tuple(found), port).lookup(address))
    except Exception:  # noqa: BLE001 - see above
        return {}


def _set(value: object) -> str | None:
    if not value or str(value).lower() == "none":
        return None
    return str(value)


def ssh_config_jump(address: str, path: str | None = None) -> str | None:
    """ProxyJump for ADDRESS from the ssh config, if it sets one."""
    return proxy_jump(lookup(address, path))


def proxy_jump(found: dict[str, Any]) -> str | None:
    """The ProxyJump of a `lookup`'s answer, if it sets one."""
    return _set(found.get("proxyjump"))


def proxy_command(found: dict[str, Any]) -> str | None:
    """The ProxyCommand of a `lookup`'s answer (its %h, %p... filled), if it sets one."""
    return _set(found.get("proxycommand"))
