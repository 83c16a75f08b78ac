"""The Engine API's answers written as the health script's docker sections
(docker/api_health.py): the parser (health/facts.py) reads from them what it reads from
the CLI's lines. The recorded answers are a real engine's (api_facts_recorded.json); the
ports' text is what `docker ps` (CLI 28) printed for the same containers on the lab."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from deployer.docker import api_health as ah
from deployer.docker.facts import MARK_CONTAINERS
from deployer.docker.health_script import MARK
from deployer.health.facts import parse

RECORDED = json.loads((Path(__file__).parent / "api_facts_recorded.json").read_text())


def _p(private: int, kind: str = "tcp", ip: str = "", public: int = 0) -> dict[str, object]:
    d: dict[str, object] = {"PrivatePort": private, "Type": kind}
    if ip:
        d |= {"IP": ip, "PublicPort": public}
    return d


@pytest.mark.parametrize(
    ("ports", "shown"),
    [
        ([], ""),
        ([_p(80)], "80/tcp"),
        (  # the lab's proxy, as `docker ps` printed it: 443 before 80 (its group came first)
            [_p(443), _p(80, ip="0.0.0.0", public=80), _p(80, ip="::", public=80), _p(2019)],
            "443/tcp, 0.0.0.0:80->80/tcp, [::]:80->80/tcp, 2019/tcp",
        ),
        (  # a bystander published on other numbers, and one port exposed only
            [
                _p(7000),
                _p(80, ip="0.0.0.0", public=9099),
                _p(80, ip="::", public=9099),
                _p(81, ip="0.0.0.0", public=9100),
                _p(90, "udp", ip="127.0.0.1", public=9200),
            ],
            "7000/tcp, 0.0.0.0:9099->80/tcp, [::]:9099->80/tcp, 0.0.0.0:9100->81/tcp, "
            "127.0.0.1:9200->90/udp",
        ),
        ([_p(8001), _p(8000), _p(8002), _p(8004)], "8000-8002/tcp, 8004/tcp"),
        (
            [_p(p, ip="0.0.0.0", public=p) for p in (5000, 5001)],
            "0.0.0.0:5000-5001->5000-5001/tcp",
        ),
    ],
)
def test_ports_read_as_docker_ps_shows_them(ports: list[dict[str, object]], shown: str) -> None:
    assert ah.ports_text(ports) == shown


def _listed(cid: str, name: str, managed: str | None, ports: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    labels = {"deployer.managed": managed} if managed else {"other": "x"}
    return {
        "Id": cid,
        "Names": [f"/{name}"],
        "Image": "reg/web:v1",
        "State": "running",
        "Ports": ports,
        "Labels": labels,
    }


def test_the_sections_parse_to_the_facts_the_cli_lines_give() -> None:
    containers = [c["api"] for c in RECORDED["containers"]]
    images = [i["api"] for i in RECORDED["images"]]
    listed = [_listed(c["Id"], c["Name"].lstrip("/"), "true", []) for c in containers]
    listed.append(_listed("f" * 64, "bystander", None, [_p(80, ip="0.0.0.0", public=9099)]))
    text = ah.docker_text(
        info={"ServerVersion": "20.10.24", "DockerRootDir": "/var/lib/docker"},
        events=[{"Actor": {"ID": containers[0]["Id"]}}, {"Actor": {"ID": containers[0]["Id"]}}],
        listed=listed,
        inspects=containers,
        images=images,
        proxy=None,
    )
    cli = "".join(
        [
            MARK.format("engine") + "\n20.10.24|/var/lib/docker\n",
            MARK.format("events") + "\n" + f"{containers[0]['Id']}\n" * 2,
            MARK.format("ps") + "\n",
            *(ah.ps_line(c) + "\n" for c in listed),
            MARK.format("managed") + f"\n{MARK_CONTAINERS}\n",
            *(c["cli"] + "\n" for c in RECORDED["containers"]),
            MARK.format("images") + "\n",
            *(i["cli"] + "\n" for i in RECORDED["images"]),
            MARK.format("proxy") + "\nnone\n",
        ]
    )
    over_api, over_cli = parse(text), parse(cli)
    assert asdict(over_api) == asdict(over_cli)
    assert over_api.engine_version == "20.10.24" and over_api.data_root == "/var/lib/docker"
    assert over_api.recent_dies == {containers[0]["Id"]: 2} and over_api.events_ok
    assert len(over_api.containers) == len(containers) and over_api.images
    by = {o.name: o for o in over_api.others}
    assert by["bystander"].host_ports == {9099} and not by["bystander"].managed
    assert by[containers[0]["Name"].lstrip("/")].managed
    assert over_api.proxy is None


def test_a_failed_request_is_its_sections_error() -> None:
    text = ah.docker_text(
        info="Error response from daemon: \n  engine is shutting down",
        events="boom",
        listed="connection reset",
        inspects=[],
        images=[],
        proxy=None,
    )
    facts = parse(text)
    assert facts.engine_error == "Error response from daemon: engine is shutting down"
    assert facts.errors["events"] == "docker events failed" and not facts.events_ok
    assert facts.errors["ps"] == "docker ps failed"
    assert facts.containers == [] and facts.others == [] and facts.proxy is None


def test_the_proxy_line() -> None:
    listed = [_listed("c" * 64, "deployer-proxy", None, [])]
    assert ah.has_proxy(listed) and not ah.has_proxy([_listed("d" * 64, "web", "true", [])])
    running = {"State": {"Running": True}, "Config": {"Image": "caddy:2.6"}}
    assert ah.proxy_line(running) == "true caddy:2.6"
    assert ah.proxy_line({"State": {"Running": False}, "Config": {"Image": "c"}}) == "false c"
    assert parse(ah.section("proxy", [ah.proxy_line(running)])).proxy == (True, "caddy:2.6")


@pytest.mark.parametrize(
    ("server_max", "server_min", "spoken"),
    [
        ("1.41", "1.12", "1.41"),  # Docker 20.10 (the lab's)
        ("1.47", "1.24", "1.41"),  # Docker 27: takes ours
        ("1.52", "1.44", "1.44"),  # Docker 29 refuses anything below 1.44
        ("1.40", "1.12", "1.40"),  # Docker 19.03: its own newest
    ],
)
def test_the_api_version_is_one_the_engine_takes(
    server_max: str, server_min: str, spoken: str
) -> None:
    from deployer.remote.engine_api import choose_version

    assert choose_version(server_max, server_min) == spoken


class _Api:
    """A stand-in for the SDK's APIClient: each method raises what it is given."""

    base_url = "http+docker://engine"
    timeout = 10

    def __init__(self, error: Exception | None = None):
        self.error = error
        self._version = "1.41"

    def get(self, url: str, **kw: object):  # type: ignore[no-untyped-def]
        if self.error is not None:
            raise self.error

        class _Res:
            status_code = 200

            @staticmethod
            def json() -> dict[str, str]:
                return {"ApiVersion": "1.52", "MinAPIVersion": "1.44"}

            @staticmethod
            def raise_for_status() -> None:
                return None

        return _Res()

    def _raise_for_status(self, res: object) -> None:
        return None

    def info(self) -> dict[str, str]:
        return {"ServerVersion": "29.0.0", "DockerRootDir": "/var/lib/docker"}


def test_a_connection_lost_mid_request_is_unreachable_not_a_traceback() -> None:
    from paramiko import SSHException

    from deployer.errors import Unreachable
    from deployer.targets.api_health import ApiHealth

    for error in (EOFError(), SSHException("key exchange timed out")):
        reader = ApiHealth(_Api(error), "h1", deadline=float("inf"))  # type: ignore[arg-type]
        with pytest.raises(Unreachable, match="h1: connection lost"):
            reader.info()


def test_the_version_is_agreed_first_and_no_request_starts_after_the_deadline() -> None:
    from deployer.targets.api_health import ApiHealth

    api = _Api()
    reader = ApiHealth(api, "h1", deadline=float("inf"))  # type: ignore[arg-type]
    assert reader.info() == {"ServerVersion": "29.0.0", "DockerRootDir": "/var/lib/docker"}
    assert api._version == "1.44" and reader.data_root == "/var/lib/docker"
    late = ApiHealth(_Api(), "h1", deadline=0.0)  # type: ignore[arg-type]
    facts = parse(late.sections(late.info(), 1.0))
    assert "timed out" in facts.engine_error and facts.errors["ps"] == "docker ps failed"


def test_only_a_container_named_exactly_so_is_the_proxy() -> None:
    linked = _listed("c" * 64, "deployer-proxy", None, [])
    linked["Names"] = ["/deployer-proxy", "/web/proxy"]  # a --link alias: the CLI's `case`
    assert not ah.has_proxy([linked])  # does not match it either


def test_the_gate_watch_replays_from_a_second_before_the_container_was_created() -> None:
    from deployer.targets.api_gate import since

    assert since("2026-11-29T06:46:02.685652947Z") == "1795934761.685652"
    assert since("2026-11-29T06:46:02Z") == "1795934761.000000"


@pytest.mark.parametrize(
    ("words", "ok", "said"),
    [
        (["CONFIRMED"], True, "HTTP 200"),
        (["CONFIRMED", "1"], False, "container stopped (code 1) during the health gate"),
        # the API watch's ?: its stream ended, or the restart count moved
        (["CONFIRMED", "?"], False, "container stopped (code ?) during the health gate"),
        (["LATE"], False, "the host's guard"),
        (["STOPPED"], False, "container stopped during the health gate"),
        ([], False, "container exited (code ?) before turning healthy"),
    ],
)
def test_what_the_watch_says_of_a_passed_gate(words: list[str], ok: bool, said: str) -> None:
    from deployer.targets.container import _confirmed

    got = _confirmed(words, "HTTP 200 on / in 3 ms")
    assert got.ok is ok and said in got.detail, got
