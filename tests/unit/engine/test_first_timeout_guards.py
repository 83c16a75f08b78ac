"""The API path's first command takes the lock, and taking the lock waits for any
pending host guard (locking.wait_for_guards: up to the guard's deadline + 30 s; the
deadline is stop_timeout + gate timeout + settle + 30 s). The CLI path ran the same lines
under PREPARE_TIMEOUT (600 s) + wait; the API path under FIRST_TIMEOUT (60 s) + wait. With
default specs (stop_timeout 10, gate timeout 60) a guard left by a crashed run makes the
next run fail the host with 'a remote command timed out after 70s' on the API path only
(the CLI path waits and proceeds)."""

from __future__ import annotations

from deployer.docker import guard, locking
from deployer.model import HealthSpec
from deployer.targets import ssh as target


def test_the_first_command_may_wait_as_long_as_a_default_guard() -> None:
    gate = HealthSpec("http", 80).timeout  # the default gate timeout
    longest_guard_wait = guard.deadline(10, gate, 0) + 30  # wait_for_guards' bound
    first = target.FIRST_TIMEOUT + 0 + locking.YIELD_SECONDS  # lock_wait 0 (the default)
    cli = target.PREPARE_TIMEOUT + 0 + locking.YIELD_SECONDS
    assert cli >= longest_guard_wait  # the CLI path waited it out
    assert first >= longest_guard_wait, (first, longest_guard_wait)
