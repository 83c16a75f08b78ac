"""Health thresholds (deployer_health_*) are checked with the playbook, each bad one at the
file:line:column where its winning value was written, as every other variable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from deployer.cli import main
from deployer.config import load_playbook
from deployer.config.thresholds import Thresholds, read
from deployer.health.thresholds import from_vars
from deployer.inventory import load_inventory
from tests.unit.conftest import problems_of

Write = Callable[[str, str], str]

PLAY = """
- hosts: all
  vars:
    deployer_health_clock_warn: 9
  containers:
    - name: web
      image: nginx:1
"""


def _problems(write: Write, inventory: list[str], extra: list[str], play: str = PLAY) -> list[str]:
    book = write("pb.yml", play)
    return problems_of(lambda: load_playbook(book, load_inventory(inventory), extra))


def test_yaml_inventory_positions(write: Write) -> None:
    inv = write(
        "inv.yml",
        """
        all:
          vars:
            deployer_health_disk_warn: 98
          hosts:
            h1:
              deployer_health_load_warn: lots
            h2:
              deployer_health_dsk_warn: 3
        """,
    )
    assert _problems(write, [inv], []) == [
        f"{inv}:6:7: deployer_health_load_warn: must be a number, not 'lots' (on host h1)",
        f"{inv}:3:5: deployer_health_disk_warn: deployer_health_disk_crit (97) is below "
        "deployer_health_disk_warn (98) (on hosts h1, h2)",
        f"{inv}:8:7: deployer_health_dsk_warn: unknown variable (did you mean "
        "'deployer_health_disk_warn'?) (on host h2)",
    ]


def test_ini_inventory_and_vars_files_positions(write: Write) -> None:
    inv = write(
        "inv.ini",
        "[web]\nw1 deployer_health_mem_warn=-3\nw2\n[web:vars]\ndeployer_health_restarts_warn=x\n",
    )
    gv = write("host_vars/w2.yml", "a: 1\ndeployer_health_load_warn: [1]\n")
    assert _problems(write, [inv], []) == [
        f"{inv}:2:1: deployer_health_mem_warn: must not be negative, got -3 (on host w1)",
        f"{inv}:5:1: deployer_health_restarts_warn: must be a number, not 'x' (on hosts w1, w2)",
        f"{gv}:2:1: deployer_health_load_warn: must be a number, not [1] (on host w2)",
    ]


def test_extra_vars_are_named_as_given(write: Write) -> None:
    inv = write("inv.ini", "h1 deployer_health_load_warn=oops\n")
    efile = write("e.yml", "x: 1\ndeployer_health_mem_warn: low\n")
    got = _problems(
        write,
        [inv],
        ["deployer_health_load_warn=abc", f"@{efile}", '{"deployer_health_disk_crit": "high"}'],
    )
    assert got == [
        '-e {"deployer_health_disk_crit": "high"}:1:2: deployer_health_disk_crit: '
        "must be a number, not 'high' (on host h1)",
        f"{efile}:2:1: deployer_health_mem_warn: must be a number, not 'low' (on host h1)",
        "-e deployer_health_load_warn=abc:1:1: deployer_health_load_warn: "
        "must be a number, not 'abc' (on host h1)",
    ]  # -e wins: the inventory's 'oops' is not the value used, so not a problem


def test_a_good_extra_var_overrides_a_bad_one(write: Write) -> None:
    inv = load_inventory([write("inv.ini", "h1 deployer_health_load_warn=oops\n")])
    book = load_playbook(write("pb.yml", PLAY), inv, ["deployer_health_load_warn=1.5"])
    assert book.plays[0].hosts[0].vars["deployer_health_load_warn"] == "1.5"


def test_play_vars_set_thresholds_for_the_play_hosts(write: Write) -> None:
    inv = load_inventory([write("inv.ini", "h1 deployer_health_clock_warn=1\nh2\n")])
    two_plays = (
        PLAY
        + """
- hosts: h2
  vars:
    deployer_health_clock_warn: 7
  containers:
    - name: api
      image: nginx:1
"""
    )
    book = load_playbook(write("pb.yml", two_plays), inv, ["deployer_health_load_warn=1.5"])
    first, second = book.plays
    assert [from_vars(h.name, h.vars) for h in first.hosts] == [
        Thresholds(clock_warn=9, load_warn=1.5),
        Thresholds(clock_warn=9, load_warn=1.5),
    ]  # the play's vars win over the inventory's, -e over both
    assert from_vars("h2", second.hosts[0].vars) == Thresholds(clock_warn=7, load_warn=1.5)
    assert inv.host_conn("h1").vars["deployer_health_clock_warn"] == 1  # the inventory's own


def test_bad_play_var_is_at_its_line(write: Write) -> None:
    inv = write("inv.ini", "h1\n")
    play = PLAY.replace("deployer_health_clock_warn: 9", "deployer_health_clock_warn: soon")
    assert _problems(write, [inv], [], play) == [
        f"{Path(inv).parent / 'pb.yml'}:3:5: plays[0].vars.deployer_health_clock_warn: "
        "must be a number, not 'soon' (on host h1)"
    ]


def test_validate_reports_a_bad_threshold_exit_5(write: Write) -> None:
    inv = write("inv.yml", "all:\n  hosts:\n    h1:\n      deployer_health_load_warn: lots\n")
    book = write("pb.yml", PLAY)
    result = CliRunner().invoke(main, ["validate", book, "-i", inv])
    assert result.exit_code == 5, result.output
    assert f"error: {inv}:4:7: deployer_health_load_warn: must be a number, not 'lots'" in (
        result.output
    )
    result = CliRunner().invoke(
        main, ["validate", book, "-i", inv, "-e", "deployer_health_load_warn=x"]
    )
    assert result.exit_code == 5 and "error: -e deployer_health_load_warn=x:1:1: " in result.output
    ok = CliRunner().invoke(
        main, ["validate", book, "-i", inv, "-e", "deployer_health_load_warn=3"]
    )
    assert ok.exit_code == 0, ok.output


def test_read_keeps_defaults_for_bad_values() -> None:
    result, bad = read({"deployer_health_disk_warn": "85%", "deployer_health_mem_warn": True})
    assert result == Thresholds(disk_warn=85)
    assert [(b.key, b.message) for b in bad] == [
        ("deployer_health_mem_warn", "must be a number, not True")
    ]
