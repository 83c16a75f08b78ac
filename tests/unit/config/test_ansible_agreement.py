"""`deployer hosts` must print what Ansible prints for the guides' examples.

Expected outputs were recorded from ansible-core by fixtures/ansible/regen.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from deployer.config import load_inventory
from deployer.errors import ConfigError

HERE = Path(__file__).parent / "fixtures" / "ansible"
CASES: list[dict[str, Any]] = json.loads((HERE / "expected.json").read_text())


def _id(case: dict[str, Any]) -> str:
    what = case.get("pattern") or f"--host {case['host']}"
    limit = f" --limit {case['limit']}" if case.get("limit") else ""
    return f"{'+'.join(case['inventories'])}: {what}{limit}"


@pytest.fixture(autouse=True)
def _in_fixture_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)


@pytest.mark.parametrize("case", [c for c in CASES if "hosts" in c], ids=_id)
def test_list_hosts_agrees_with_ansible(case: dict[str, Any]) -> None:
    inv = load_inventory(case["inventories"])
    if case["hosts"]:
        assert inv.match(case["pattern"], case["limit"]) == case["hosts"]
    else:  # Ansible warns and lists nothing; deployer refuses.
        with pytest.raises(ConfigError):
            inv.match(case["pattern"], case["limit"])


@pytest.mark.parametrize("case", [c for c in CASES if "vars" in c], ids=_id)
def test_host_vars_agree_with_ansible(case: dict[str, Any]) -> None:
    inv = load_inventory(case["inventories"])
    assert inv.host_vars(case["host"]) == case["vars"]


def test_fixture_dir_exists() -> None:
    assert os.path.isfile(HERE / "expected.json")
