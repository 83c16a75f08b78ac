"""The Docker SDK's own parsers, without the cost of importing the whole SDK.

`import docker` loads its API client, requests and paramiko (~0.3 s of CPU on
every command). The parsers validation needs are plain functions: `split_port`
is taken from the SDK's `docker/utils/ports.py` (which imports only `re`),
loaded straight from the installed package; `parse_repository_tag` is five
lines in a module with heavy imports, so it is mirrored here and a unit test
checks it against the SDK's on a table of references.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def _load_ports() -> ModuleType:
    if "docker.utils.ports" in sys.modules:  # the SDK is loaded already: use it
        return sys.modules["docker.utils.ports"]
    spec = importlib.util.find_spec("docker")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the docker SDK (pip package 'docker') is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "ports.py"
    mod_spec = importlib.util.spec_from_file_location("deployer._docker_sdk_ports", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


split_port: Callable[[Any], tuple[list[str], Any]] = _load_ports().split_port


def parse_repository_tag(repo_name: str) -> tuple[str, str | None]:
    """docker.utils.parse_repository_tag: (repository, tag or digest or None)."""
    parts = repo_name.rsplit("@", 1)
    if len(parts) == 2:
        return parts[0], parts[1]
    parts = repo_name.rsplit(":", 1)
    if len(parts) == 2 and "/" not in parts[1]:
        return parts[0], parts[1]
    return repo_name, None
