"""A run with nothing to notify does not load Apprise (0.15-0.25 s of every deploy's start)."""

from __future__ import annotations

import subprocess
import sys


def test_a_run_without_notification_urls_does_not_load_apprise() -> None:
    code = (
        "import sys\n"
        "from deployer.report.notify import Notifier\n"
        "n = Notifier([])\n"
        "assert not n and n.send(None) is None\n"
        "print('apprise' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
