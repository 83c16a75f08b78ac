"""Input problems that used to crash, hang or pass (issue 9, items 7 and 10)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from deployer.cli import main
from deployer.inventory import load_inventory
from deployer.source import yamlpos
from deployer.source.problems import Problems
from deployer.source.yamlpos import load_text
from tests.unit.conftest import problems_of

LONG = "1" * 5000  # over Python's 4,300 digits
INVENTORY = "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n"
CONTAINER = "- hosts: all\n  containers:\n    - name: web\n      image: nginx\n"


def load(text: str) -> tuple[object, list[str]]:
    problems = Problems()
    doc = load_text(text, "f.yml", problems)
    return (doc.data if doc else None), problems.messages()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """run(playbook_text, *args, inventory=...) -> the CLI's result (validate by default)."""

    def _run(playbook: str, *args: str, inventory: str = INVENTORY, ext: str = "yml") -> Result:
        (tmp_path / "play.yml").write_text(playbook)
        (tmp_path / f"inv.{ext}").write_text(inventory)
        monkeypatch.chdir(tmp_path)
        command = list(args) or ["validate"]
        return CliRunner().invoke(main, [*command, "play.yml", "-i", f"inv.{ext}"])

    return _run


# -- item 7: an integer too long for Python to read ---------------------------------------
def test_a_long_integer_in_yaml_is_a_problem_at_its_position() -> None:
    data, problems = load(f"a:\n  b: [1, {LONG}]\nc: 0x{'f' * 4000}\nd: 12\n")
    assert problems == [
        "f.yml:2:10: a.b[1]: integer too large (more than 4300 digits); quote it if it is text",
        "f.yml:3:4: c: integer too large (more than 4300 digits); quote it if it is text",
    ]
    assert isinstance(data, dict) and data["d"] == 12
    assert load(f"a: {'9' * 4300}\n")[1] == []  # 4,300 digits are fine


@pytest.mark.parametrize(
    "where, playbook, inventory, position",
    [
        ("stop_timeout", CONTAINER + f"      stop_timeout: {LONG}\n", INVENTORY, "play.yml:5:21:"),
        ("env", CONTAINER + f"      env: {{N: {LONG}}}\n", INVENTORY, "play.yml:5:16:"),
        (
            "inventory variable",
            CONTAINER + '      env: {N: "{{ n }}"}\n',
            f"all:\n  hosts:\n    h1: {{n: {LONG}}}\n",
            "inv.yml:3:13:",
        ),
    ],
)
def test_a_long_integer_exits_5_with_file_and_line(
    run: Callable[..., Result], where: str, playbook: str, inventory: str, position: str
) -> None:
    result = run(playbook, inventory=inventory)
    assert result.exit_code == 5, (where, result.output, result.exception)
    assert f"error: {position}" in result.output and "more than 4300 digits" in result.output


def test_a_long_integer_in_an_ini_inventory_is_text(run: Callable[..., Result]) -> None:
    result = run(CONTAINER + '      env: {N: "{{ n }}"}\n', inventory=f"h1 n={LONG}\n", ext="ini")
    assert result.exit_code == 0, result.output


# -- item 10: names, health path, FIFO, the size message, JSON on exit 5 ---------------------
@pytest.mark.parametrize("name", ["A B", "A\tB", "A\nB", "A\rB", " A", "A\x1bB"])
@pytest.mark.parametrize("key", ["env", "labels", "secret_env"])
def test_env_and_label_names_with_whitespace_are_refused(
    write: Callable[[str, str], str], key: str, name: str
) -> None:
    from deployer.config import load_playbook

    inv = load_inventory([write("inv.yml", INVENTORY)])
    value = "{env: HOME}" if key == "secret_env" else "x"
    path = write("play.yml", CONTAINER + f"      {key}: {{{json.dumps(name)}: {value}}}\n")
    problems = problems_of(lambda: load_playbook(path, inv))
    assert len(problems) == 1 and "invalid name" in problems[0], problems
    assert "\n" not in problems[0] and "\r" not in problems[0]  # one line per problem


@pytest.mark.parametrize("path", ["/a\r\nHost: evil", "/a\nb", "/a b", "/a\tb", "/a\x00b"])
def test_a_health_path_with_line_breaks_or_spaces_is_refused(
    run: Callable[..., Result], path: str
) -> None:
    result = run(CONTAINER + f"      health: {{http: {{port: 80, path: {json.dumps(path)}}}}}\n")
    assert result.exit_code == 5, result.output
    assert "plays[0].containers[0].health.http.path: path must not contain" in result.output or (
        "NUL" in result.output
    )


def test_a_health_path_with_a_query_is_fine(run: Callable[..., Result]) -> None:
    result = run(CONTAINER + "      health: {http: {port: 80, path: '/healthz?full=1&x=%20'}}\n")
    assert result.exit_code == 0, result.output


@pytest.mark.timeout(20)
@pytest.mark.parametrize("what", ["playbook", "inventory", "extra-vars file"])
def test_a_fifo_is_refused_without_waiting(tmp_path: Path, what: str) -> None:
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    (tmp_path / "play.yml").write_text(CONTAINER)
    (tmp_path / "inv.yml").write_text(INVENTORY)
    args = {
        "playbook": [str(fifo), "-i", str(tmp_path / "inv.yml")],
        "inventory": [str(tmp_path / "play.yml"), "-i", str(fifo)],
        "extra-vars file": [
            str(tmp_path / "play.yml"),
            "-i",
            str(tmp_path / "inv.yml"),
            "-e",
            f"@{fifo}",
        ],
    }[what]
    done: list[Result] = []
    thread = threading.Thread(
        target=lambda: done.append(CliRunner().invoke(main, ["validate", *args])), daemon=True
    )
    thread.start()
    thread.join(10)
    if not done:  # unblock the reader so the thread ends
        with open(fifo, "w"):
            pass
        thread.join(5)
        pytest.fail("reading the FIFO hung")
    assert done[0].exit_code == 5, done[0].output
    assert f"{fifo}:1:1: (top): {what} is a FIFO (named pipe), not a regular file" in done[0].output


def test_a_large_file_without_aliases_is_not_called_an_alias_bomb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlpos, "MAX_NODES", 1000)
    data, problems = load("[" + ",".join(["1"] * 1005) + "]\n")
    assert data is None and len(problems) == 1
    assert "YAML has more than 1000 values (the limit)" in problems[0]
    assert "alias" not in problems[0]
    data, problems = load("a: &a [1, 2, 3, 4, 5, 6, 7, 8]\nb: [" + ", ".join(["*a"] * 200) + "]\n")
    assert data is None and "alias bomb" in problems[0]
    data, problems = load("a: &a [1]\nb: *a\nc: [" + ",".join(["1"] * 1005) + "]\n")
    assert data is None and "YAML has more than 1000 values (the limit)" in problems[0]


@pytest.mark.parametrize("command", [["deploy", "--check"], ["rollback"], ["health"]])
def test_output_json_prints_the_problems_on_exit_5(
    run: Callable[..., Result], command: list[str]
) -> None:
    bad = CONTAINER + "      env: {'A B': 1}\n      ports: [':80']\n"
    out = run(bad, *command, "-o", "json")
    assert out.exit_code == 5, out.output
    doc = json.loads(out.stdout)  # stdout is the document alone; the messages go to stderr
    assert "error: play.yml:5:13:" in out.stderr
    assert doc["schema"] == "deployer.error/v1" and doc["exit_code"] == 5
    assert doc["error"] == "invalid input" and len(doc["problems"]) == 2
    assert any(
        p.startswith("play.yml:5:13: plays[0].containers[0].env['A B']: ") for p in doc["problems"]
    )
