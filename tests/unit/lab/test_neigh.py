"""The neighbour table's thresholds for a light lab: raised (never lowered) before the
network is made, the values found kept once, put back when the last light lab goes.
On a folder standing for /proc/sys/net/ipv4/neigh/default."""

from __future__ import annotations

import json
from pathlib import Path

from deployer.lab import neigh


def sysctl(tmp_path: Path, t1: int, t2: int, t3: int) -> Path:
    root = tmp_path / "default"
    root.mkdir()
    for name, value in (("gc_thresh1", t1), ("gc_thresh2", t2), ("gc_thresh3", t3)):
        (root / name).write_text(f"{value}\n")
    return root


def values(root: Path) -> tuple[int, ...]:
    return tuple(int((root / f"gc_thresh{i}").read_text()) for i in (1, 2, 3))


def test_a_thousand_hosts_raise_the_kernel_defaults_and_down_puts_them_back(
    tmp_path: Path,
) -> None:
    root, saved = sysctl(tmp_path, 128, 512, 1024), tmp_path / "lab" / "saved.json"
    changed = neigh.raise_for(1000, root, saved)
    assert values(root) == (2128, 4512, 9024) and set(changed) == {
        "gc_thresh1",
        "gc_thresh2",
        "gc_thresh3",
    }
    assert values(root)[2] >= 3 * 1000  # controller, host and engine entries per host
    neigh.raise_for(100, root, saved)  # a second, smaller lab lowers nothing, saves nothing
    assert values(root) == (2128, 4512, 9024)
    assert json.loads(saved.read_text()) == {
        "gc_thresh1": 128,
        "gc_thresh2": 512,
        "gc_thresh3": 1024,
    }
    neigh.restore(root, saved)
    assert values(root) == (128, 512, 1024)
    assert not saved.exists() and not saved.parent.exists()
    neigh.restore(root, saved)  # nothing saved: nothing to do
    assert values(root) == (128, 512, 1024)


def test_a_machine_tuned_higher_is_left_as_it_is(tmp_path: Path) -> None:
    root, saved = sysctl(tmp_path, 8192, 32768, 65536), tmp_path / "saved.json"
    assert neigh.raise_for(1000, root, saved) == {}
    assert values(root) == (8192, 32768, 65536)
