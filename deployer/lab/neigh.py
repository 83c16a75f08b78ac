"""The kernel's neighbour (ARP) table, sized for a light lab of up to 1,000 hosts.

The IPv4 neighbour table is one table for the whole machine: the entries of every network
namespace count against its `gc_thresh3` (1024 by default; past `gc_thresh2`, 512, the
kernel evicts entries after 5 s). A light lab of N hosts makes about 3N entries (the
controller to each host, each host to the engine's leg, the engine to each host): at 1,000
hosts, new connections failed with "No route to host" and timed out. `raise_for` raises
(never lowers) the three thresholds before the network is made and records the values it
found in one machine-wide file; `restore` puts them back when the last light lab goes.
"""

from __future__ import annotations

import json
from pathlib import Path

SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")
SAVED = Path("/var/lib/deployer-lab/neigh-thresholds.json")  # the values before any lab


def _read(name: str, root: Path) -> int:
    return int((root / name).read_text().split()[0])


def wanted(hosts: int) -> dict[str, int]:
    """What N light hosts need, with room for the machine's own entries and other labs."""
    return {
        "gc_thresh1": 2 * hosts + 128,
        "gc_thresh2": 4 * hosts + 512,
        "gc_thresh3": 8 * hosts + 1024,
    }


def raise_for(hosts: int, root: Path = SYSCTL, saved: Path = SAVED) -> dict[str, int]:
    """Raise the thresholds to what `hosts` light hosts need; the ones changed -> new value."""
    found = {name: _read(name, root) for name in wanted(hosts)}
    if not saved.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(found))
    changed = {}
    for name, value in wanted(hosts).items():
        if found[name] < value:
            (root / name).write_text(f"{value}\n")
            changed[name] = value
    return changed


def restore(root: Path = SYSCTL, saved: Path = SAVED) -> None:
    """Put back the values found before the first light lab (call when none is left)."""
    try:
        before = json.loads(saved.read_text())
    except (OSError, ValueError):
        return
    # gc_thresh1 <= gc_thresh2 <= gc_thresh3 at every step: lower the smallest first
    for name in ("gc_thresh1", "gc_thresh2", "gc_thresh3"):
        value = before.get(name)
        if isinstance(value, int) and (root / name).exists():
            (root / name).write_text(f"{value}\n")
    saved.unlink(missing_ok=True)
    try:
        saved.parent.rmdir()
    except OSError:
        pass
