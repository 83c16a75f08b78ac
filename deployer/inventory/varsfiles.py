"""`group_vars/` and `host_vars/` beside an inventory, found and read as Ansible does.

For an entity named NAME, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json`
that exists wins; a folder is read file by file in sorted order (recursively,
skipping hidden files and backups). Later files override earlier ones. A vaulted file or
value is opened as it is read (vaultfiles.py).
"""

from __future__ import annotations

import os
from typing import Any

from deployer.inventory.data import Origin
from deployer.inventory.vaultfiles import VaultReader
from deployer.source.problems import Problems

EXTENSIONS = ("", ".yml", ".yaml", ".json")
MAX_FILES = 10_000


def _dir_files(path: str, out: list[str]) -> None:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return
    for name in names:
        if name.startswith(".") or name.endswith("~"):
            continue
        full = os.path.join(path, name)
        ext = os.path.splitext(name)[1]
        if os.path.isdir(full) and not ext:
            _dir_files(full, out)
        elif os.path.isfile(full) and ext in EXTENSIONS:
            out.append(full)
        if len(out) > MAX_FILES:
            return


def find_vars_files(folder: str, name: str) -> list[str]:
    """The files that hold variables for NAME in FOLDER (group_vars or host_vars)."""
    base = os.path.join(folder, name)
    for ext in EXTENSIONS:
        full = base + ext
        if os.path.exists(full):
            if os.path.isdir(full):
                found: list[str] = []
                _dir_files(full, found)
                return found
            return [full]
    return []


class VarsFiles:
    """Loads (once) and merges group_vars/host_vars for each inventory source."""

    def __init__(self, sources: list[str], problems: Problems, vault: VaultReader) -> None:
        self.basedirs = [s if os.path.isdir(s) else os.path.dirname(s) or "." for s in sources]
        self.problems = problems
        self.vault = vault  # vaulted files and !vault values are opened as they are read
        self.cache: dict[str, dict[str, Any]] = {}
        self.origins: dict[str, dict[str, Origin]] = {}

    def load(self, path: str) -> dict[str, Any]:
        if path not in self.cache:
            self.cache[path] = {}
            self.origins[path] = {}
            doc = self.vault.load(path, "variables file")
            if doc is not None and doc.data is not None:
                if isinstance(doc.data, dict):
                    self.cache[path] = {str(k): v for k, v in doc.data.items()}
                    self.origins[path] = {
                        str(k): (path, doc.key_pos(doc.data, k)) for k in doc.data
                    }
                else:
                    self.problems.add(
                        path, doc.root, (), "a variables file must be a mapping of name: value"
                    )
        return self.cache[path]

    def vars_for(
        self, kind: str, names: list[str], origins: dict[str, Origin] | None = None
    ) -> dict[str, Any]:
        """Merged variables of `kind` ('group_vars' or 'host_vars') for NAMES, source by source."""
        data: dict[str, Any] = {}
        for basedir in self.basedirs:
            folder = os.path.join(basedir, kind)
            if not os.path.isdir(folder):
                continue
            for name in names:
                if name.startswith(os.sep):
                    continue
                for path in find_vars_files(folder, name):
                    data.update(self.load(path))
                    if origins is not None:
                        origins.update(self.origins[path])
        return data
