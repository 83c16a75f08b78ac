"""Ctrl-C / SIGTERM during a rollout: no new host starts, in-flight work ends, locks released."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

HERE = Path(__file__).parent / "playbooks"


def _deploy(lab, *args: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deployer",
            "deploy",
            str(HERE / "signals.yml"),
            "-i",
            str(lab.inventory),
            "--output",
            "json",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_finishes_in_flight_host_skips_the_rest_and_releases_locks(
    clean_lab, sig
) -> None:  # type: ignore[no-untyped-def]
    lab = clean_lab
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployer",
            "deploy",
            str(HERE / "signals.yml"),
            "-i",
            str(lab.inventory),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    # v1 -> unhealthy, one host at a time: the first host spends its whole health timeout.
    proc = _deploy(lab, "-e", "image={{lab_image_unhealthy}}")
    # Wait until the first host is in its health gate, then interrupt.
    deadline = time.monotonic() + 60
    seen = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "waiting for health" in line:
            break
    assert "waiting for health" in seen, seen
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    report = json.loads(out)
    statuses = {h["name"]: h["status"] for h in report["hosts"]}
    assert report["interrupted"] is True
    # The in-flight host finished its work: unhealthy, so rolled back to v1.
    assert list(statuses.values()).count("failed") == 1, statuses
    # Hosts not yet started were not touched.
    assert list(statuses.values()).count("skipped") == 2, statuses
    for name in lab.web_hosts():
        page = subprocess.run(
            ["curl", "-s", "--max-time", "5", f"http://{lab.host(name).address}:8080/"],
            capture_output=True,
            text=True,
        ).stdout
        assert "deployer demo v1" in page, (name, page)
        # Locks are released everywhere.
        assert (
            lab.sh(name, "test -e /var/lib/deployer/lock && echo held || echo free").stdout.strip()
            == "free"
        )
