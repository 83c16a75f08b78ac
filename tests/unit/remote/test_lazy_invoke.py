"""paramiko's invoke (for an ssh config's `Match exec` only) loads at its first use, not at
every start (deployer/remote/__init__.py): ~40 ms of CPU per run with asyncio and
unittest.mock, which nothing else of a run needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
import deployer.remote.ssh
print(sorted(m for m in ("invoke.tasks", "asyncio", "unittest.mock") if m in sys.modules))
from deployer.remote import sshconfig
sshconfig.SSH_CONFIG = sys.argv[1]
sshconfig.SYSTEM_SSH_CONFIG = sys.argv[1] + ".none"
print(sshconfig.lookup("web1").get("hostname"), sshconfig.lookup("web1").get("user"))
print("invoke.tasks" in sys.modules)
"""


def test_invoke_loads_only_for_a_match_exec(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        'Match exec "true"\n    HostName real.example\nMatch exec "false"\n    User nobody\n'
    )
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert out == ["[]", "real.example None", "True"]


def test_the_stand_in_answers_as_invoke_does() -> None:
    """find_spec, a submodule's import and a dunder read all work on it (they load it)."""
    code = (
        "import importlib.util, sys\n"
        "import deployer.remote\n"
        "assert importlib.util.find_spec('invoke') is not None\n"
        "assert 'invoke.tasks' not in sys.modules\n"
        "from invoke.exceptions import Failure\n"
        "import invoke\n"
        "assert invoke.__version__ and invoke.run and 'invoke.tasks' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
