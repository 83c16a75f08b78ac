from __future__ import annotations

import pytest

from deployer.errors import ConfigError
from deployer.health.thresholds import NAMES, Thresholds, from_vars


@pytest.mark.parametrize(
    "variables, want",
    [
        ({}, Thresholds()),
        ({"deployer_health_disk_warn": 80}, Thresholds(disk_warn=80)),
        (
            {"deployer_health_disk_warn": "85%", "deployer_health_load_warn": "1.5"},
            Thresholds(disk_warn=85, load_warn=1.5),
        ),
        ({"deployer_health_restarts_warn": 0, "other_var": "x"}, Thresholds(restarts_warn=0)),
    ],
)
def test_from_vars(variables: dict[str, object], want: Thresholds) -> None:
    assert from_vars("h1", variables) == want


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"deployer_health_disk_warn": "lots"}, "deployer_health_disk_warn must be a number"),
        ({"deployer_health_mem_warn": True}, "deployer_health_mem_warn must be a number"),
        ({"deployer_health_load_warn": -1}, "must not be negative"),
        ({"deployer_health_disk_warn": 98}, "disk_crit (97) is below"),
        ({"deployer_health_dsk_warn": 1}, "unknown variable deployer_health_dsk_warn"),
    ],
)
def test_bad_values_name_the_variable(variables: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_vars("h1", variables)
    assert any(message in p and "host h1" in p for p in err.value.problems), err.value.problems


def test_documented_names() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "health.md").read_text()
    for name in NAMES:
        assert name in doc
