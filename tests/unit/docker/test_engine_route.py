"""Which way to the engine (docker/engine_route.py): the probe lines run by a real sh with
the environments a login may have, and the decision they lead to; the inventory's
deployer_engine_api and a become login decide before connecting."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.docker import engine_route as er
from deployer.errors import ConfigError
from deployer.inventory.conn import host_conn
from deployer.model import Become, HostConn


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "docker.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    yield path
    s.close()


def probe(env: dict[str, str], home: Path) -> er.EngineAddress | None:
    script = "\n".join(["set -u", *er.probe_lines()])
    out = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ["PATH"], "HOME": str(home), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stderr == ""
    return er.parse_probe(out.stdout)


def test_a_unix_socket_the_user_may_use_is_the_api(sock: Path, tmp_path: Path) -> None:
    got = probe({"DOCKER_HOST": f"unix://{sock}"}, tmp_path)
    assert got == er.EngineAddress(f"unix://{sock}", "ok", "-")
    route = er.decide(got, "root")
    assert route == er.Route(True, socket=str(sock)) and route.shown == "api"


def test_no_docker_host_is_the_default_socket(tmp_path: Path) -> None:
    got = probe({}, tmp_path)
    assert got is not None and got.address == er.DEFAULT_HOST
    if not Path("/var/run/docker.sock").is_socket():
        assert er.decide(got, "u").shown == "cli (no socket at /var/run/docker.sock)"


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ({"DOCKER_HOST": "tcp://10.0.0.1:2376"}, "cli (DOCKER_HOST is tcp://)"),
        ({"DOCKER_HOST": "ssh://admin@box"}, "cli (DOCKER_HOST is ssh://)"),
        ({"DOCKER_HOST": "unix:///nowhere/docker.sock"}, "cli (no socket at /nowhere/docker.sock)"),
        ({"DOCKER_CONTEXT": "remote"}, "cli (a docker context (remote) chooses the engine)"),
    ],
)
def test_what_the_api_cannot_reach_is_the_cli_with_the_reason(
    env: dict[str, str], shown: str, tmp_path: Path
) -> None:
    assert er.decide(probe(env, tmp_path), "u").shown == shown


def test_a_current_context_in_the_cli_config_is_the_cli(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "remote"}')
    got = probe({}, tmp_path)
    assert er.decide(got, "u").shown == "cli (a docker context (config.json) chooses the engine)"
    # DOCKER_HOST wins over any context, as in the CLI
    assert probe({"DOCKER_HOST": "tcp://x:1"}, tmp_path) == er.EngineAddress("tcp://x:1", "-", "-")


def test_a_socket_the_user_may_not_use_is_the_cli(sock: Path, tmp_path: Path) -> None:
    got = er.EngineAddress(f"unix://{sock}", "denied", "-")
    assert er.decide(got, "deploy").shown == f"cli (deploy may not use {sock})"
    if os.geteuid() != 0:  # root may use any socket
        sock.chmod(0o600)
        assert probe({"DOCKER_HOST": f"unix://{sock}"}, tmp_path).socket == "denied"  # type: ignore[union-attr]


def test_nothing_printed_is_the_cli() -> None:
    assert er.parse_probe("a login banner\n") is None
    assert er.decide(None, "u").shown == "cli (the engine's address was not reported)"


def test_off_and_become_decide_before_connecting() -> None:
    conn = HostConn("h1", "10.0.0.1")
    assert er.before_connecting(conn) is None
    off = er.before_connecting(HostConn("h1", "10.0.0.1", engine_api="off"))
    assert off is not None and off.shown == "cli (deployer_engine_api: off)"
    sudo = er.before_connecting(HostConn("h1", "10.0.0.1", become=Become()))
    assert sudo is not None and sudo.shown == "cli (become: the engine is reached through sudo)"


def test_first_script_locks_then_probes_without_docker() -> None:
    script = er.first_script("/var/lib/deployer", '{"run":"r"}', "p", 0)
    assert script.index('mkdir "$L"') < script.index(er.MARK_ENGINE)
    assert "docker ps" not in script and "docker inspect" not in script
    assert er.MARK_ENGINE in er.first_script("/var/lib/deployer", None)


class _Inv:
    def __init__(self, value: object) -> None:
        self.value = value

    def host_vars(self, name: str) -> dict[str, object]:
        return {"deployer_engine_api": self.value} if self.value is not None else {}

    def host_source(self, name: str) -> str:
        return "inv.yml"

    def var_origin(self, name: str, var: str) -> tuple[str, None]:
        return ("inv.yml", None)


@pytest.mark.parametrize(
    ("value", "want"),
    [(None, "auto"), ("auto", "auto"), ("off", "off"), (False, "off"), ("no", "off")],
)
def test_the_inventory_variable(value: object, want: str) -> None:
    assert host_conn(_Inv(value), "h1").engine_api == want  # type: ignore[arg-type]


def test_a_bad_value_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"deployer_engine_api.*must be auto or off, got 'cli'"):
        host_conn(_Inv("cli"), "h1")  # type: ignore[arg-type]
