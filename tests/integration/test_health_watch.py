"""`deployer health --watch`: rounds keep coming on the same connections until Ctrl-C."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.procs import interrupt

pytestmark = pytest.mark.lab


def test_watch_rewrites_the_report_each_round_and_stops_on_ctrl_c(lab, tmp_path: Path) -> None:
    out = tmp_path / "health.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deployer",
            "health",
            "-i",
            str(lab.inventory),
            "--limit",
            "web",
            "-e",
            "deployer_health_load_warn=1000",
            "--output",
            "json",
            "--out",
            str(out),
            "--watch",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stamps: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while len(stamps) < 3 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, f"exited {proc.poll()}: {proc.stderr.read()}"
        if "->" in line:
            stamps.append(line.split()[0])
            doc = json.loads(out.read_text())  # replaced whole each round, never half-written
            assert doc["schema"] == "deployer.health/v1"
            assert {h["name"] for h in doc["hosts"]} == set(lab.web_hosts())
    assert len(stamps) == 3, stamps
    _, err = interrupt(proc, 30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped watching" in err
