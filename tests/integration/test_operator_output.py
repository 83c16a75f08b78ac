"""What reaches the operator from real hosts: escaped host text; `-e` and `health` as documented.

Uses the session lab (DEPLOYER_TEST_LAB), host h1 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
BIDI = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def raw_controls(text: str) -> list[str]:
    return [
        c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 or ord(c) in BIDI
    ]


def deployer(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SSH_AUTH_SOCK", "DOCKER_", "DEPLOYER_TEST_SECRET"))
    }
    base.update(
        {
            "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "PYTHONPATH": str(REPO),
            "NO_COLOR": "1",
            "COLUMNS": "250",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "deployer", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**base, **(env or {})},
        cwd=REPO,
    )


def test_escape_sequences_in_a_containers_log_never_reach_the_terminal(
    clean_lab, tmp_path: Path
) -> None:
    book = str(PLAYBOOKS / "hostile_logs.yml")
    image = "image={{ lab_image_v1 }}"  # spaces inside {{ }}: kept whole, as Ansible does
    as_json = deployer(
        tmp_path,
        "deploy",
        book,
        "-i",
        str(clean_lab.inventory),
        "-e",
        image,
        "--no-summary",
        "-o",
        "json",
    )
    assert as_json.returncode == 3, as_json.stderr
    logs = json.loads(as_json.stdout)["hosts"][0]["containers"][0]["logs"]
    assert any("\x1b]52;c;aGk=" in line and "\u202e" in line and "\x9b" in line for line in logs), (
        logs
    )

    text = deployer(
        tmp_path, "deploy", book, "-i", str(clean_lab.inventory), "-e", image, "--no-summary"
    )
    assert text.returncode == 3, text.stderr
    assert "Traceback" not in text.stderr
    assert raw_controls(text.stdout) == [] and raw_controls(text.stderr) == [], (
        text.stdout,
        text.stderr,
    )
    assert "\\x1b]52;c;aGk=\\x07" in text.stdout and "\\u202e[red]styled[/red]" in text.stdout, (
        text.stdout
    )
    # the failed container's message: on its line, not again as the host's reason
    assert text.stdout.count("removed the failed container") == 1, text.stdout


def test_health_with_a_playbook_needs_no_secret_and_takes_e_thresholds(
    clean_lab, tmp_path: Path
) -> None:
    # DEPLOYER_TEST_SECRET, the playbook's secret_env source, is not set
    proc = deployer(
        tmp_path,
        "health",
        "-i",
        str(clean_lab.inventory),
        str(PLAYBOOKS / "secrets.yml"),
        "--limit",
        "h1",
        "-e",
        "deployer_health_load_warn=1000",
        "-o",
        "json",
    )
    assert proc.returncode == 3, proc.stderr  # web is missing: unhealthy; not an input error (5)
    doc = json.loads(proc.stdout)
    assert [h["name"] for h in doc["hosts"]] == ["h1"]
    assert doc["hosts"][0]["thresholds"]["load_warn"] == 1000
    assert any("web: missing" in r for r in doc["hosts"][0]["reasons"]), doc["hosts"][0]["reasons"]
