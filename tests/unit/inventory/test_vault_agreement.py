"""Vaulted inventories read as ansible-inventory reads them.

fixtures/ansible/expected_vault.json was recorded from ansible-core 2.18 by regen.py, on
fixtures that ansible-vault made (vault/ from vault-src/): a vaulted INI inventory,
vaulted group_vars (one with the vault id 'prod') and host_vars, and `!vault` values in a
plain YAML inventory. "vars" and "list" hold Ansible's plaintext (each inline value opened
by ansible-vault); "stdout" is what `ansible-inventory --host` printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.inventory import Vault, load_inventory
from deployer.inventory.conn import PASSWORD_VARS

HERE = Path(__file__).parent / "fixtures" / "ansible"
CASES: list[dict[str, Any]] = json.loads((HERE / "expected_vault.json").read_text())

# What `hosts --host` masks because its winning value was written in a vaulted file
# (every `!vault` value is masked too, wherever it sits).
FROM_VAULTED_FILES = {
    "web1": {"vault_db_password", "vault_port", "vault_api_token", "api_token", "region"},
    "web2": {"vault_db_password"},  # vault_port: host_vars/web2.yml, plain, wins
    "db1": {"vault_db_password", "vault_port", "db_engine"},
    "old1": {"vault_db_password", "vault_port", "ansible_host", "legacy_token", "legacy_port"},
}
PLAINTEXTS = [  # the secrets of the fixtures and their passwords: never printed
    "smtp pass with spaces",
    "tok-web1",
    "tok-web2",
    "pässwörd",
    "db1 ssh pass",
    "key-one",
    "backup pass",
    "all-db-pass",
    "prod-db-pass",
    "abc123",
    "correct horse",
    "prod pass",
]


def _id(case: dict[str, Any]) -> str:
    what = f"--host {case['host']}" if "host" in case else "--list"
    env = "".join(f" {k}={v}" for k, v in case.get("env", {}).items())
    return f"{' '.join(case['vault'])}{env}: {what}"


@pytest.fixture(autouse=True)
def _in_fixture_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)


def _load(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    return load_inventory(case["inventories"], Vault.from_options(case["vault"]))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # a VaultText is a str in JSON


@pytest.mark.parametrize("case", [c for c in CASES if "list" in c], ids=_id)
def test_groups_and_hostvars_agree_with_ansible_inventory_list(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _load(case, monkeypatch)
    listed = dict(case["list"])
    hostvars = listed.pop("_meta")["hostvars"]
    for group, body in listed.items():
        assert inv.data.groups[group].hosts == body.get("hosts", []), group
        assert inv.data.groups[group].children == body.get("children", []), group
    assert {h: _plain(inv.host_vars(h)) for h in inv.hosts} == hostvars


@pytest.mark.parametrize("case", [c for c in CASES if "vars" in c], ids=_id)
def test_host_vars_are_ansibles_plaintext(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _plain(_load(case, monkeypatch).host_vars(case["host"])) == case["vars"]


def _masked(printed: dict[str, Any], from_files: set[str]) -> dict[str, Any]:
    """What ansible-inventory printed, each vaulted value (and connection password) '***'."""

    def leaf(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"__ansible_vault"}:
            return "***"
        if isinstance(value, dict):
            return {k: leaf(v) for k, v in value.items()}
        if isinstance(value, list):
            return [leaf(v) for v in value]
        return value

    return {
        k: "***" if k in from_files or k in PASSWORD_VARS else leaf(v) for k, v in printed.items()
    }


@pytest.mark.parametrize("case", [c for c in CASES if "stdout" in c], ids=_id)
def test_hosts_host_prints_what_ansible_prints_with_vaulted_values_masked(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    args = [a for i in case["inventories"] for a in ("-i", i)]
    args += [a for p in case["vault"] for a in ("--vault-password-file", p)]
    result = CliRunner().invoke(main, ["hosts", *args, "--host", case["host"]])
    assert result.exit_code == 0, result.output
    expected = _masked(json.loads(case["stdout"]), FROM_VAULTED_FILES[case["host"]])
    assert (
        result.stdout == json.dumps(expected, sort_keys=True, indent=4, ensure_ascii=False) + "\n"
    )
    assert not [s for s in PLAINTEXTS if s in result.output]


def test_every_case_was_recorded() -> None:
    hosts = {c["host"] for c in CASES if "host" in c}
    assert hosts == set(FROM_VAULTED_FILES)
    assert any(c.get("env") for c in CASES)  # ANSIBLE_VAULT_PASSWORD_FILE
    assert any("-client" in p for c in CASES for p in c["vault"])
