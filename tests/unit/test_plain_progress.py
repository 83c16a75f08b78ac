"""A run whose stderr is no terminal (cron, CI, a pipe) prints its progress lines as plain
text without loading rich (cli/progress.py `Stderr`): the same lines rich printed there,
control characters shown, nothing read as a style."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys

import pytest
from rich.console import Console

from deployer.cli.progress import Stderr, progress_printer

EVIL = "\x1b]52;c;AAAA\x07[red]b[/red]\x1b[2J\u202e"
EVENTS = [
    ("h1", "connecting"),
    ("h1" + EVIL, "web: FAILED " + EVIL),
    ("h2", "web: healthy (HTTP 200 on / in 3 ms) :smile:"),
    ("h3", "UNREACHABLE h3: connection refused [bold]x[/bold]"),
]


def _lines(text: str) -> list[str]:
    return [re.sub(r"^\s*\d+\.\ds ", "", line) for line in text.splitlines()]


def test_plain_lines_are_the_lines_rich_printed_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    plain = Stderr()
    assert plain.plain
    event = progress_printer(plain)
    for host, message in EVENTS:
        event(host, message)
    ref = io.StringIO()
    rich_event = progress_printer(Console(file=ref, highlight=False, soft_wrap=True))
    for host, message in EVENTS:
        rich_event(host, message)
    assert _lines(err.getvalue()) == _lines(ref.getvalue().replace("😄", ":smile:"))
    assert "\x1b" not in err.getvalue() and "\\x1b]52;c;" in err.getvalue()


def test_a_run_without_a_terminal_prints_progress_without_loading_rich() -> None:
    code = (
        "import sys\n"
        "from deployer.cli.progress import progress_printer, stderr\n"
        "progress_printer(stderr())('h1', 'web: create')\n"
        "print('rich' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
    assert re.fullmatch(r"\s*0\.0s h1 web: create\n", done.stderr)


def test_progress_with_stderr_closed_prints_nothing_and_goes_on() -> None:
    code = (
        "from deployer.cli.progress import progress_printer, stderr\n"
        "progress_printer(stderr())('h1', 'web: create')\n"
        "print('went on')\n"
    )
    done = subprocess.run(
        ["sh", "-c", f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} 2>&-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "went on"
