from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from deployer.cli import main

ROOT = Path(__file__).resolve().parents[3]
GUIDE = Path(__file__).parent / "fixtures" / "ansible"


def test_hosts_lists_in_inventory_order() -> None:
    result = CliRunner().invoke(
        main, ["hosts", "-i", str(GUIDE / "patterns.yml"), "--limit", "webservers:!atlanta"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["webbing", "weber", "www.example.com"]


def test_hosts_host_prints_merged_vars_as_json() -> None:
    result = CliRunner().invoke(
        main, ["hosts", "-i", str(GUIDE / "precedence" / "hosts.ini"), "--host", "w2"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["from_files"] == "group_vars/web/10-main"


def test_hosts_no_match_exits_5() -> None:
    result = CliRunner().invoke(main, ["hosts", "-i", str(GUIDE / "patterns.yml"), "webz"])
    assert result.exit_code == 5 and "matches no group or host" in result.output


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    inv = str(ROOT / "inventories" / "example.yml")
    ok = CliRunner().invoke(main, ["validate", str(ROOT / "playbooks" / "demo.yml"), "-i", inv])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip().endswith("1 play, 3 hosts, 3 containers")
    bad = tmp_path / "bad.yml"
    bad.write_text("- hosts: web\n  containers:\n    - {name: web, image: nginx, ports: [':80']}\n")
    result = CliRunner().invoke(main, ["validate", str(bad), "-i", inv, "-e", "x=1"])
    assert result.exit_code == 5
    assert f"{bad}:3:41: plays[0].containers[0].ports[0]: invalid port spec ':80'" in result.output
