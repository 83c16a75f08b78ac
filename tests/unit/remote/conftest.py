"""Shared by the connection tests: the fake SSH fronts a test starts, closed after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import paramiko
import pytest

from tests.unit.remote.test_connect_pacing import Front, serve_ssh


@pytest.fixture
def front() -> Iterator[list[Front]]:
    made: list[Front] = []
    yield made
    for f in made:
        f.close()


@pytest.fixture
def ssh_server(front: list[Front]) -> Callable[[paramiko.PKey], Front]:
    """Start a fake SSH server with this host key (closed after the test)."""

    def start(key: paramiko.PKey) -> Front:
        f = Front(lambda index, sock: serve_ssh(key)(sock))
        front.append(f)
        return f

    return start
