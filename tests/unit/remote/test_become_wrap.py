"""remote/become.py: the sudo wrapper, run by a real sh against a stand-in `sudo` that
keeps sudo's stdin protocol (-S reads one line, -n refuses to ask, -p prints a prompt)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deployer.model import Become, Secret
from deployer.remote import become as bec

FAKE_SUDO = r"""#!/bin/sh
S=; N=; P=
while [ $# -gt 0 ]; do
  case "$1" in -S) S=1;; -k) ;; -n) N=1;; -p) P=$2; shift;; -u) echo "$2" >> "$FAKE_LOG"; shift;;
  --) shift; break;; *) break;; esac; shift
done
if [ -n "$FAKE_SUDO_PW" ]; then
  [ -z "$N" ] || { echo "sudo: a password is required" >&2; exit 1; }
  printf '%s' "$P" >&2
  IFS= read -r got || { echo "sudo: no password was provided" >&2; exit 1; }
  [ "$got" = "$FAKE_SUDO_PW" ] || { echo "Sorry, try again." >&2; echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
fi
exec "$@"
"""
SCRIPT = 'echo "as:$DOCKER_HOST"; cat; exit 3'


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "bin").mkdir()
    sudo = tmp_path / "bin" / "sudo"
    sudo.write_text(FAKE_SUDO)
    sudo.chmod(0o755)

    def go(become: Become, stdin: str, rule_password: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            "FAKE_SUDO_PW": rule_password,
            "FAKE_LOG": str(tmp_path / "log"),
            "DOCKER_HOST": "unix:///run/x.sock",
        }
        return subprocess.run(
            ["sh", "-c", bec.wrap(SCRIPT, become)],
            input=bec.stdin_prefix(become) + stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=20,
        )

    return go


def test_the_password_line_goes_to_sudo_and_the_data_to_the_script(run) -> None:  # type: ignore[no-untyped-def]
    b = Become(user="app", password=Secret("env:X", "s3cret pw"))
    got = run(b, "line1\nline2\n", "s3cret pw")
    assert got.returncode == 3, got
    assert got.stdout == "as:unix:///run/x.sock\nline1\nline2\n"  # DOCKER_HOST handed on
    assert "s3cret" not in bec.wrap(SCRIPT, b)  # never on the command line


def test_a_wrong_password_is_one_attempt_then_a_clear_failure(run) -> None:  # type: ignore[no-untyped-def]
    b = Become(password=Secret("env:X", "wrong"))
    got = run(b, "data-that-is-no-password\n", "right")
    assert got.returncode == bec.EXIT_BECOME, got
    assert got.stdout == ""  # the script never ran
    why = bec.explain("h1", "ops", b, got.stderr)
    assert why is not None and "password was refused" in why and "h1" in why
    assert bec.PROMPT not in got.stderr


def test_a_rule_without_password_gets_none_and_the_data_stays_whole(run) -> None:  # type: ignore[no-untyped-def]
    b = Become(password=Secret("env:X", "unused"))
    got = run(b, "line1\n", "")
    assert got.returncode == 3 and got.stdout.endswith("line1\n"), got
    assert "unused" not in got.stdout


def test_no_password_configured_but_sudo_asks(run) -> None:  # type: ignore[no-untyped-def]
    got = run(Become(), "", "needed")
    assert got.returncode == bec.EXIT_BECOME, got
    why = bec.explain("h1", "ops", Become(), got.stderr)
    assert why is not None and "deployer_become_password_env" in why


def test_no_password_needed_nor_given(run) -> None:  # type: ignore[no-untyped-def]
    got = run(Become(), "x\n", "")
    assert (got.returncode, got.stdout) == (3, "as:unix:///run/x.sock\nx\n"), got


def test_a_hostile_become_user_is_quoted() -> None:
    text = bec.wrap("true", Become(user="x; touch /tmp/pwned"))
    assert "-u 'x; touch /tmp/pwned'" in text


@pytest.mark.parametrize(
    ("said", "expect"),
    [
        ("sudo: a password is required", "ansible_become_password"),
        ("ops is not in the sudoers file.", "may not use sudo"),
        ("sh: 1: sudo: not found", "sudo is not installed"),
        ("something else", "something else"),
    ],
)
def test_explain(said: str, expect: str) -> None:
    why = bec.explain("h1", "ops", Become(), f"{bec.MARK} {said}\n")
    assert (
        why is not None
        and expect in why
        and "become failed (sudo as root, logged in as ops)" in why
    )


def test_explain_leaves_other_failures_alone() -> None:
    assert bec.explain("h1", "ops", Become(), "docker: no such image\n") is None
    assert bec.stdin_prefix(None) == "" and bec.stdin_prefix(Become()) == ""


def test_check_raises_only_for_sudos_own_refusal() -> None:
    from deployer.errors import RemoteError

    said = f"{bec.MARK} sudo: 1 incorrect password attempt\n"
    with pytest.raises(RemoteError, match="h1: become failed"):
        bec.check("h1", "ops", Become(), bec.EXIT_BECOME, said)
    bec.check("h1", "ops", None, bec.EXIT_BECOME, said)  # no become: the script's own code
    bec.check("h1", "ops", Become(), 1, said)
    bec.check("h1", "ops", Become(), bec.EXIT_BECOME, "the script's own exit 91\n")
