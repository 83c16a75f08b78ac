"""`deployer health -i INV PLAYBOOK`: what the command takes from its inputs (hosts faked)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.health.model import HostHealth

gathermod = importlib.import_module(
    "deployer.health.gather"
)  # the package exports a function of that name

SECRET_PLAYBOOK = """\
- hosts: web
  registry: {server: "127.0.0.1:5443", username: u, password_env: HX_DEPLOYER_TEST_UNSET_REGISTRY}
  containers:
    - name: app
      image: "{{ image | default('app:1') }}"
      secret_env:
        DB_PASSWORD: {env: HX_DEPLOYER_TEST_UNSET_SECRET}
        API_KEY: {file: secrets/missing-api-key}
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HX_DEPLOYER_TEST_UNSET_SECRET", raising=False)
    monkeypatch.delenv("HX_DEPLOYER_TEST_UNSET_REGISTRY", raising=False)
    (tmp_path / "inv.yml").write_text(
        "web:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n    h2: {ansible_host: 127.0.0.1}\n"
    )
    (tmp_path / "site.yml").write_text(SECRET_PLAYBOOK)
    plain = SECRET_PLAYBOOK.split("      secret_env:")[0]
    (tmp_path / "plain.yml").write_text(
        "\n".join(ln for ln in plain.splitlines() if "registry" not in ln) + "\n"
    )
    return tmp_path


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """No host is contacted: each check records (host, its thresholds, its declared specs)."""
    seen: list[tuple[str, Any, Any]] = []

    def fake_check(session: Any, conn: Any, specs: Any, thresholds: Any) -> HostHealth:
        seen.append((conn.name, thresholds, specs))
        return HostHealth(name=conn.name, address=conn.address)

    monkeypatch.setattr(gathermod, "check_host", fake_check)
    return seen


def health(files: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["health", "-i", str(files / "inv.yml"), *args, "-o", "json"])


def test_health_with_a_playbook_needs_no_secrets(files: Path, checked: list[Any]) -> None:
    result = health(files, str(files / "site.yml"))
    assert result.exit_code == 0, result.output
    assert [name for name, _, _ in checked] == ["h1", "h2"]
    assert [s.name for s in checked[0][2]] == ["app"]
    assert json.loads(result.output)["summary"]["healthy"] == 2


def test_deploy_and_validate_still_need_the_secrets(files: Path) -> None:
    result = CliRunner().invoke(
        main, ["validate", str(files / "site.yml"), "-i", str(files / "inv.yml")]
    )
    assert result.exit_code == 5
    assert "HX_DEPLOYER_TEST_UNSET_SECRET is not set" in result.output
    assert "missing-api-key does not exist" in result.output
    assert "HX_DEPLOYER_TEST_UNSET_REGISTRY is not set" in result.output


def test_health_with_a_playbook_still_checks_the_rest(files: Path, checked: list[Any]) -> None:
    (files / "site.yml").write_text(
        SECRET_PLAYBOOK.replace("secret_env:", "secret_env:\n        TOKEN: plain")
    )
    result = health(files, str(files / "site.yml"))
    assert result.exit_code == 5, result.output
    assert "secret_env TOKEN must be {env: NAME} or {file: PATH}" in result.output
    assert checked == []


@pytest.mark.parametrize("with_playbook", [False, True])
def test_extra_vars_set_thresholds(files: Path, checked: list[Any], with_playbook: bool) -> None:
    book = [str(files / "plain.yml")] if with_playbook else []
    result = health(
        files, *book, "-e", "deployer_health_load_warn=50 deployer_health_disk_warn=80%"
    )
    assert result.exit_code == 0, result.output
    assert {(name, t.load_warn, t.disk_warn) for name, t, _ in checked} == {
        ("h1", 50, 80),
        ("h2", 50, 80),
    }
    doc = json.loads(result.output)
    assert [h["thresholds"]["load_warn"] for h in doc["hosts"]] == [50, 50]


@pytest.mark.parametrize("with_playbook", [False, True])
def test_a_bad_threshold_from_extra_vars_is_an_input_error(
    files: Path, checked: list[Any], with_playbook: bool
) -> None:
    book = [str(files / "plain.yml")] if with_playbook else []
    result = health(files, *book, "-e", "deployer_health_load_warn=lots")
    # with a playbook, config reads it, at its -e source: `-e ...:1:1: deployer_health_load_warn: ...`
    said = "deployer_health_load_warn" + (": " if with_playbook else " ") + "must be a number"
    assert result.exit_code == 5 and said in result.output
    assert checked == []


def test_extra_vars_still_render_the_playbook(files: Path, checked: list[Any]) -> None:
    result = health(files, str(files / "plain.yml"), "-e", "image={{ 'app:' ~ 2 }}")
    assert result.exit_code == 0, result.output
    assert checked[0][2][0].image == "app:2"


def test_deploys_health_summary_takes_thresholds_from_extra_vars(files: Path) -> None:
    from deployer.cli import deploy
    from deployer.health.gather import thresholds_for

    book = deploy._load(
        str(files / "plain.yml"), (str(files / "inv.yml"),), ("deployer_health_load_warn=50",), None
    )
    limits = thresholds_for([h for play in book.plays for h in play.hosts])
    assert {n: t.load_warn for n, t in limits.items()} == {"h1": 50, "h2": 50}
