"""What a user sees of the lifecycle: `deploy --prune-undeclared` refused without a terminal
(exit 2, before anything is read or touched), the confirmation's listing and answers, and the
recap's lines for a removal and for a change `replace:` left alone."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from deployer.cli import main
from deployer.cli import prune as cli_prune
from deployer.engine.outcomes import ContainerOutcome, HostOutcome, RunReport
from deployer.engine.removal import Removal
from deployer.errors import EXIT_INVALID, EXIT_NOT_CONFIRMED
from deployer.report.run_text import render


def test_prune_without_a_terminal_nor_yes_is_refused_with_exit_2(tmp_path: Path) -> None:
    # the playbook does not even exist: the refusal comes before anything is read
    args = ["deploy", str(tmp_path / "none.yml"), "-i", str(tmp_path / "none.yml")]
    refused = CliRunner().invoke(main, [*args, "--prune-undeclared"], input="")
    assert refused.exit_code == EXIT_NOT_CONFIRMED, refused.output
    assert "no terminal to ask on: give --yes" in refused.output
    assert "nothing was changed" in refused.output
    # with --yes, or only looking (--check), it goes on (here: to the missing files, exit 5)
    for more in (["--yes"], ["--check"]):
        went = CliRunner().invoke(main, [*args, "--prune-undeclared", *more], input="")
        assert went.exit_code == EXIT_INVALID, went.output
    plain = CliRunner().invoke(main, args, input="")
    assert plain.exit_code == EXIT_INVALID, plain.output


class Live:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self) -> None:
        self.calls.append("stop")

    def start(self) -> None:
        self.calls.append("start")


REMOVALS = [
    Removal("h1", "old", "reg/old:3", "old"),
    Removal("h1", "old_prev_abc", "reg/old:2", "old"),
    Removal("h[2]", "x", "reg/x:1", "x"),
]


@pytest.mark.parametrize(
    "typed,answer", [("y\n", True), ("n\n", False), ("\n", False), ("", False)]
)
def test_the_confirmation_lists_then_asks_with_the_board_paused(
    monkeypatch: pytest.MonkeyPatch, typed: str, answer: bool
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    out = io.StringIO()
    live, cancel = Live(), threading.Event()
    confirm = cli_prune.asker(Console(file=out, width=120), live, cancel)
    assert confirm(REMOVALS) is answer
    assert live.calls == ["stop", "start"]
    text = out.getvalue()
    for r in REMOVALS:
        assert r.host in text and r.container in text and r.image in text, text


def test_an_interrupt_while_asked_is_a_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    cancel = threading.Event()
    cancel.set()
    confirm = cli_prune.asker(Console(file=io.StringIO()), None, cancel)
    assert confirm(REMOVALS) is False

    def abort(*_a: object, **_k: object) -> bool:
        raise click.Abort

    monkeypatch.setattr(click, "confirm", abort)
    assert cli_prune.asker(Console(file=io.StringIO()), None, threading.Event())(REMOVALS) is False


def recap(*containers: ContainerOutcome, check: bool = False, diff: bool = False) -> str:
    report = RunReport("site.yml", check=check)
    report.hosts.append(HostOutcome("h1", status="changed", containers=list(containers)))
    out = io.StringIO()
    render(report, Console(file=out, width=200, color_system=None), diff=diff)
    return out.getvalue()


def test_a_removal_is_said_with_its_image_and_would_be_under_check() -> None:
    gone = ContainerOutcome(
        "old",
        "remove",
        changes=["state: absent", "remove: old (live, running, reg/old:3)"],
        old_image="reg/old:3",
        health="n/a",
    )
    assert "old: removed (reg/old:3)" in recap(gone)
    checked = recap(gone, check=True, diff=True)
    assert "old: would be removed (reg/old:3)" in checked
    assert "~ remove: old (live, running, reg/old:3)" in checked
    failed = ContainerOutcome("old", "remove", old_image="reg/old:3", error="disk on fire")
    assert "old: removal failed (reg/old:3); disk on fire" in recap(failed)


def test_a_change_left_alone_is_said_and_its_lines_shown_with_diff() -> None:
    kept = ContainerOutcome(
        "db",
        "noop",
        changes=["spec changed, not replaced: replace: never", "image: db:1 -> db:2"],
    )
    assert "db: unchanged (spec changed, not replaced: replace: never)" in recap(kept)
    assert "image: db:1 -> db:2" not in recap(kept)
    assert "~ image: db:1 -> db:2" in recap(kept, diff=True)
    # other no-ops with a line (a rollback's "no retained version") stay as they were
    plain = ContainerOutcome("web", "noop", changes=["not on this host"])
    assert "web: unchanged" in recap(plain) and "not on this host" not in recap(plain)
