"""`deployer hosts`: the inventory on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from deployer.cli import main

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
