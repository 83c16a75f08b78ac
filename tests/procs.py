"""Helpers for tests that drive a running deployer process."""

from __future__ import annotations

import signal
import subprocess

import pytest


def interrupt(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Ctrl-C to a running deployer, and its (stdout, stderr) once it exits. Still running
    after `timeout`: SIGABRT, which (started with `python -X faulthandler`) prints every
    thread's stack, and the test fails with them: a hang says where it hangs."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"still running {timeout:g}s after Ctrl-C; its threads:\n{err[-8000:]}")
