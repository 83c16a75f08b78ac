"""Helpers of the tests of the reading rooms (source, template, inventory, config): files
written on the fly, and the problems a ConfigError carries."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.errors import ConfigError


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], str]:
    """write('name.yml', text) -> path; text is dedented."""

    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return _write


def problems_of(fn: Callable[[], object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        fn()
    return info.value.problems


def has_problem(problems: list[str], *parts: str) -> bool:
    return any(all(p in problem for p in parts) for problem in problems)
