"""`deployer hosts` must print what Ansible prints for the guides' examples.

Expected outputs were recorded from ansible-core by fixtures/ansible/regen.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.errors import ConfigError
from deployer.inventory import load_inventory

HERE = Path(__file__).parent / "fixtures" / "ansible"
CASES: list[dict[str, Any]] = json.loads((HERE / "expected.json").read_text())


def _id(case: dict[str, Any]) -> str:
    what = case.get("pattern") or f"--host {case['host']}"
    limit = f" --limit {case['limit']}" if case.get("limit") else ""
    env = "".join(f" {k}={v!r}" for k, v in case.get("env", {}).items())
    return f"{'+'.join(case['inventories'])}: {what}{limit}{env}"


@pytest.fixture(autouse=True)
def _in_fixture_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    for name in ("ANSIBLE_INVENTORY_IGNORE", "ANSIBLE_INVENTORY_IGNORE_REGEX"):
        monkeypatch.delenv(name, raising=False)


def _setenv(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("case", [c for c in CASES if "hosts" in c], ids=_id)
def test_list_hosts_agrees_with_ansible(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setenv(case, monkeypatch)
    if case["hosts"]:
        inv = load_inventory(case["inventories"])
        assert inv.match(case["pattern"], case["limit"]) == case["hosts"]
    else:  # Ansible warns and lists nothing; deployer refuses (an empty inventory, too).
        with pytest.raises(ConfigError):
            load_inventory(case["inventories"]).match(case["pattern"], case["limit"])


@pytest.mark.parametrize("case", [c for c in CASES if "vars" in c], ids=_id)
def test_host_vars_agree_with_ansible(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setenv(case, monkeypatch)
    inv = load_inventory(case["inventories"])
    variables = inv.host_vars(case["host"])
    assert json.loads(json.dumps(variables)) == case["vars"]  # JSON has text keys only


@pytest.mark.parametrize("case", [c for c in CASES if "stdout" in c], ids=_id)
def test_hosts_host_prints_what_ansible_inventory_prints(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _setenv(case, monkeypatch)
    args = [a for i in case["inventories"] for a in ("-i", i)]
    result = CliRunner().invoke(main, ["hosts", *args, "--host", case["host"]])
    assert result.exit_code == 0, result.output
    assert result.stdout == case["stdout"]


def test_fixture_dir_exists() -> None:
    assert os.path.isfile(HERE / "expected.json")
