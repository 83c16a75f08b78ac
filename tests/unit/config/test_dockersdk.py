"""The SDK parsers loaded without importing the SDK behave exactly as the SDK's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deployer.config import dockersdk

REFS = [
    "nginx",
    "nginx:1.25",
    "ns/app:tag",
    "localhost:5000/app",
    "localhost:5000/app:1",
    "reg.example.com:443/a/b/c:v1.2",
    "app@sha256:" + "a" * 64,
    "reg:5000/app:1@sha256:" + "b" * 64,
    "a:b:c",
    "",
    ":",
    "x/",
    "[::1]:5000/app:tag",
]
PORTS = [
    "80",
    "8080:80",
    "127.0.0.1:8080:80",
    "1000-1010:2000-2010",
    "53/udp",
    "[::1]:80:80",
    "0.0.0.0::80",
    "8000-8001:80",
]


@pytest.mark.parametrize("ref", REFS)
def test_parse_repository_tag_matches_the_sdk(ref: str) -> None:
    from docker.utils import parse_repository_tag

    assert dockersdk.parse_repository_tag(ref) == tuple(parse_repository_tag(ref))


@pytest.mark.parametrize("spec", PORTS)
def test_split_port_is_the_sdks(spec: str) -> None:
    from docker.utils.ports import split_port

    assert dockersdk.split_port(spec) == split_port(spec)


def test_validation_does_not_import_the_sdk() -> None:
    code = "import deployer.config, sys; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
