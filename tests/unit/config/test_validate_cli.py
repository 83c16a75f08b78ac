"""`deployer validate`: a playbook checked offline against an inventory."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from deployer.cli import main

ROOT = Path(__file__).resolve().parents[3]


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
