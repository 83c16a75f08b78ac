"""Small value parsers of the playbook: ports, images, durations, percentages, serial."""

from __future__ import annotations

import pytest

from deployer.config.values import (
    parse_duration,
    parse_image,
    parse_percent,
    parse_ports,
    parse_serial_item,
)


@pytest.mark.parametrize(
    "spec, docker",
    [
        ("80", ["80/tcp"]),
        ("8080:80", ["8080:80/tcp"]),
        ("127.0.0.1:8080:80", ["127.0.0.1:8080:80/tcp"]),
        ("127.0.0.1::80", ["127.0.0.1::80/tcp"]),
        ("53:53/udp", ["53:53/udp"]),
        ("7000-7001:8000-8001", ["7000:8000/tcp", "7001:8001/tcp"]),
        ("9000-9001", ["9000/tcp", "9001/tcp"]),
        (8080, ["8080/tcp"]),
    ],
)
def test_ports(spec: str, docker: list[str]) -> None:
    assert [p.to_docker() for p in parse_ports(spec)] == docker


@pytest.mark.parametrize(
    "ref",
    ["nginx", "nginx:1.25", "reg.example.com:5000/a/b:v1", "localhost/x", "a/b@sha256:" + "a" * 64],
)
def test_good_images(ref: str) -> None:
    assert parse_image(ref) == ref


def test_uppercase_image_says_lowercase() -> None:
    with pytest.raises(ValueError, match="must be lowercase"):
        parse_image("reg:5000/Web:v1")


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), (5, 5), ("7", 7)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "0s", "-1s", "5 sec", True, "1d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


def test_percent_and_serial() -> None:
    assert parse_percent("30%") == 30 and parse_percent(12.5) == 12.5
    assert parse_serial_item("30%") == "30%" and parse_serial_item("3") == 3
    for bad in ["101%", "-1", "x"]:
        with pytest.raises(ValueError):
            parse_percent(bad)
    for bad in [0, "0%", True, "x", 1.5]:
        with pytest.raises(ValueError):
            parse_serial_item(bad)
