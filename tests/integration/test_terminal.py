"""On a terminal, deploy shows a live board of the hosts; in a pipe, plain lines."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from test_deploy import PLAYBOOKS, env  # noqa: F401

pytestmark = pytest.mark.lab


def test_live_board_on_a_terminal_plain_lines_in_a_pipe(clean_lab, env) -> None:  # noqa: F811
    lab = clean_lab
    argv = [
        sys.executable,
        "-m",
        "deployer",
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--no-summary",
    ]
    # `script` gives the command a real pseudo-terminal, as an operator's shell would.
    tty = subprocess.run(
        ["script", "-qec", shlex.join(argv), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "TERM": "xterm", "COLUMNS": "120"},
    )
    assert tty.returncode == 0, tty.stdout
    screen = tty.stdout
    assert "\x1b[" in screen  # drawn with terminal control sequences
    assert "Ctrl-C: finish the hosts in flight and stop" in screen
    for host in lab.web_hosts():
        assert f"{host} " in screen
    assert "web: healthy (HTTP 200" in screen and "recap:" in screen
    # The same run in a pipe: one plain line per event, no control sequences.
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert piped.returncode == 0, piped
    assert "\x1b[" not in piped.stderr
    assert "plan web: noop" in piped.stderr
    assert "Ctrl-C: finish" not in piped.stderr
