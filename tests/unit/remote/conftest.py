"""Shared by the connection tests: the fake SSH fronts a test starts, closed after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.remote.test_connect_pacing import Front


@pytest.fixture
def front() -> Iterator[list[Front]]:
    made: list[Front] = []
    yield made
    for f in made:
        f.close()
