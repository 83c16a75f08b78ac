"""Inventory sources read as ansible-core 2.18 reads them (issue 19).

Folders skip the names Ansible skips (INVENTORY_IGNORE_EXTS / _PATTERNS, with their
environment variables), empty sources are accepted next to others, mappings with
mixed key types print as `ansible-inventory --host` prints them, and host order
does not depend on Python's hash seed. The recorded agreement with ansible-inventory
is in test_ansible_agreement.py; these pin the details and the error messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployer.cli import main
from deployer.inventory import load_inventory
from deployer.inventory.formats import parse_ini_value
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_ansible_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANSIBLE_INVENTORY_IGNORE", "ANSIBLE_INVENTORY_IGNORE_REGEX"):
        monkeypatch.delenv(name, raising=False)


def _folder(write: Write) -> str:
    write("inv/hosts.ini", "[local]\nl[1:8]\n[all:vars]\nansible_connection=local\n")
    write("inv/web.yml", "web:\n  hosts:\n    w1:\n")
    write("inv/plain", "p1\n")
    write("inv/site.cfg", "cfg1\n")
    write("inv/old.retry", "retry1\n")
    write("inv/notes.txt", "txt1\n")
    write("inv/web.yml.orig", "orig1\n")
    write("inv/backup~", "tilde1\n")
    write("inv/.hidden", "hidden1\n")
    write("inv/sub/more.yaml", "db:\n  hosts:\n    d1:\n")
    write("inv/sub/legacy.ini", "leg1\n")
    return str(Path(write("inv/group_vars/all.yml", "g: 1\n")).parents[1])


def test_folder_skips_what_ansible_skips_and_reads_subfolders(write: Write) -> None:
    inv = load_inventory([_folder(write)])
    assert sorted(inv.hosts) == ["d1", "p1", "w1"]
    assert inv.host_vars("w1") == {"g": 1}  # no ansible_connection from the skipped hosts.ini


def test_ansible_inventory_ignore_replaces_the_default_list(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANSIBLE_INVENTORY_IGNORE", " .txt, '.orig',\".cfg\"")
    inv = load_inventory([_folder(write)])
    assert sorted(inv.hosts) == [
        "d1",
        "l1",
        "l2",
        "l3",
        "l4",
        "l5",
        "l6",
        "l7",
        "l8",
        "leg1",
        "p1",
        "retry1",
        "tilde1",
        "w1",
    ]
    assert inv.host_vars("w1")["ansible_connection"] == "local"


def test_ansible_inventory_ignore_regex_is_searched_in_each_name(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANSIBLE_INVENTORY_IGNORE_REGEX", "^pla,ub")
    assert load_inventory([_folder(write)]).hosts == ["w1"]


def test_a_bad_ignore_regex_is_a_clear_error(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_INVENTORY_IGNORE_REGEX", "web,(")
    problems = problems_of(lambda: load_inventory([_folder(write)]))
    assert len(problems) == 1
    assert has_problem(
        problems, "ANSIBLE_INVENTORY_IGNORE_REGEX='web,(':", "not a valid regular expression"
    )


def test_a_folder_whose_files_are_all_skipped_says_why(write: Write) -> None:
    folder = str(Path(write("inv/hosts.ini", "[web]\nw1\n")).parent)
    write("inv/notes.txt", "x\n")
    problems = problems_of(lambda: load_inventory([folder]))
    assert len(problems) == 1
    assert has_problem(problems, f"the inventory ({folder}) defines no hosts")
    assert has_problem(problems, "hosts.ini", "notes.txt", "skipped", "ANSIBLE_INVENTORY_IGNORE")


def test_a_folder_that_contains_itself_is_an_error(write: Write) -> None:
    folder = Path(write("inv/web.yml", "web:\n  hosts:\n    w1:\n")).parent
    (folder / "loop").symlink_to(folder)
    problems = problems_of(lambda: load_inventory([str(folder)]))
    assert has_problem(problems, f"{folder}/loop:", "is inside itself")


EMPTY = {
    "empty.yml": "",
    "empty.ini": "",
    "empty": "",
    "comment.yml": "# hosts come later\n",
    "comment.ini": "# hosts come later\n; really\n",
    "doc.yaml": "---\n",
    "blank.json": "\n\n",
}


@pytest.mark.parametrize("name", EMPTY)
def test_an_empty_source_next_to_others_is_accepted(write: Write, name: str) -> None:
    empty = write(name, EMPTY[name])
    other = write("other.ini", "[web]\nw1\n")
    assert load_inventory([empty, other]).match("all") == ["w1"]
    assert load_inventory([other, empty]).match("all") == ["w1"]


def test_no_hosts_at_all_is_one_clear_error(write: Write) -> None:
    paths = [write(n, EMPTY[n]) for n in ("empty.yml", "comment.ini", "doc.yaml")]
    problems = problems_of(lambda: load_inventory(paths))
    assert problems == [
        f"the inventory ({', '.join(paths)}) defines no hosts; deployer needs at least one"
        " (Ansible would go on with only its implicit localhost)"
    ]


def test_hosts_host_prints_mixed_keys_as_ansible_inventory(write: Write) -> None:
    path = write(
        "inv.yml", "all:\n  hosts:\n    h1:\n      y: {b: 1, a: 2}\n      x: {a: 1, 0: 2}\n"
    )
    result = CliRunner().invoke(main, ["hosts", "-i", path, "--host", "h1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"y": {"b": 1, "a": 2}, "x": {"a": 1, "0": 2}}
    assert list(json.loads(result.stdout)) == ["y", "x"]  # not sorted, as Ansible
    assert list(json.loads(result.stdout)["y"]) == ["b", "a"]
    assert "could not sort" in result.stderr and "'<' not supported" in result.stderr


def test_ini_literal_mappings_keep_their_key_types() -> None:
    assert parse_ini_value("{10: 'ten', 'b': 1, None: 0, 1.5: 2}") == {
        10: "ten",
        "b": 1,
        None: 0,
        1.5: 2,
    }
    assert parse_ini_value("{(1, 2): 'pair', b'x': {3}}") == {"(1, 2)": "pair", "x": [3]}


SEVERAL_PARENTS = """
[web]
w1
[db]
d1
[cache]
c1
[east:children]
web
db
[west:children]
db
cache
[prod:children]
east
west
"""


def test_host_order_with_several_parents_does_not_depend_on_the_hash_seed(write: Write) -> None:
    """Ansible's order here changes from run to run; deployer's is definition order."""
    path = write("inv.ini", SEVERAL_PARENTS)
    code = (
        "import sys; from deployer.inventory import load_inventory as L; i = L([sys.argv[1]]); "
        "print(i.match('all'), i.match('prod'), i.match('west'), i.match('all[0]'))"
    )
    outputs = set()
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", code, path], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert outputs == {"['w1', 'd1', 'c1'] ['w1', 'd1', 'c1'] ['d1', 'c1'] ['w1']\n"}
