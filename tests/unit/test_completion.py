"""Shell completion (issue 17): click's own, for bash and zsh, sees the lazy commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("deployer"))


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_completion_script_is_produced(shell: str) -> None:
    env = {**os.environ, "_DEPLOYER_COMPLETE": f"{shell}_source"}
    out = subprocess.run([EXE], env=env, capture_output=True, text=True, timeout=30).stdout
    assert "_deployer_completion" in out


def test_commands_complete_including_the_ones_loaded_lazily() -> None:
    env = {
        **os.environ,
        "_DEPLOYER_COMPLETE": "bash_complete",
        "COMP_WORDS": "deployer r",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([EXE], env=env, capture_output=True, text=True, timeout=30).stdout
    words = {line.split(",", 1)[1] for line in out.splitlines() if "," in line}
    assert {"restart", "rollback", "runs"} <= words
