"""facts.parse: output of the one remote script -> HostFacts (tables of output, no SSH)."""

from __future__ import annotations

import json

import pytest

from deployer.health import facts as f

ID1 = "a" * 64
ID2 = "b" * 64


def section(name: str, *lines: str) -> str:
    return "\n".join([f.MARK.format(name), *lines]) + "\n"


def inspect_line(**kw: object) -> str:
    d = {
        "id": ID1,
        "name": "/web",
        "created": "2024-01-01T00:00:00Z",
        "image_id": "sha256:" + "1" * 64,
        "image": "reg/app:v1",
        "labels": {"deployer.managed": "true", "deployer.name": "web"},
        "status": "running",
        "running": True,
        "exit_code": 0,
        "started_at": "2024-01-01T00:00:01Z",
        "finished_at": "",
        "health": "healthy",
        "restarts": 0,
        "ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
        "ip": "172.17.0.2",
    }
    d.update(kw)
    return json.dumps(d)


FULL = (
    section("clock", "1700000000.250000000")
    + section("engine", "20.10.24|/var/lib/docker")
    + section(
        "df",
        "Filesystem 1024-blocks Used Available Capacity Mounted on",
        "/dev/vda 1000 930 70 93% /",
        "/dev/vdb 2000 1000 1000 50% /var/lib/docker",
    )
    + section("meminfo", "MemTotal:       1000 kB", "MemAvailable:    50 kB")
    + section("loadavg", "4.50 1.00 0.50 2/384 24100")
    + section("nproc", "2")
    + section("uptime", "3600.5 100.0")
    + section("listen", "00000000:1F90", "0B5EC90A:0016", "00000000000000000000000000000000:1F90")
    + section("events", ID1, ID1, ID1)
    + section(
        "ps",
        json.dumps(
            {
                "id": ID1,
                "name": "web",
                "image": "reg/app:v1",
                "state": "running",
                "ports": "0.0.0.0:8080->80/tcp, :::8080->80/tcp",
                "managed": "true",
            }
        ),
        json.dumps(
            {
                "id": ID2,
                "name": "other",
                "image": "x:1",
                "state": "exited",
                "ports": "",
                "managed": "",
            }
        ),
    )
    + section("managed", "--deployer-containers--", inspect_line())
    + section(
        "images",
        json.dumps(
            {
                "id": "sha256:" + "1" * 64,
                "tags": ["reg/app:v1"],
                "digests": ["reg/app@sha256:" + "d" * 64],
            }
        ),
    )
)


def test_full_output() -> None:
    x = f.parse(FULL)
    assert x.clock == 1700000000.25
    assert (x.engine_version, x.data_root, x.engine_error) == ("20.10.24", "/var/lib/docker", "")
    assert [(d.path, d.mount, d.used_pct) for d in x.disks] == [
        ("/", "/", 93),
        ("/var/lib/docker", "/var/lib/docker", 50),
    ]
    assert x.mem_available_pct == 5.0
    assert x.load == (4.5, 1.0, 0.5) and x.cpus == 2 and x.uptime_s == 3600.5
    assert x.listening == {8080, 22}
    assert x.events_ok and x.recent_dies == {ID1: 3}
    assert [o.name for o in x.others] == ["web", "other"] and x.others[0].host_ports == {8080}
    assert not x.others[1].managed
    live = x.live("web")
    assert live is not None and live.health == "healthy" and live.ip == "172.17.0.2"
    assert x.images["sha256:" + "1" * 64].digest == "sha256:" + "d" * 64
    assert x.errors == {}


@pytest.mark.parametrize(
    "output, check",
    [
        (
            "",
            lambda x: (
                x.engine_version is None and x.engine_error == "no answer from the Docker engine"
            ),
        ),
        (
            section("engine", "!error: Cannot connect to the Docker daemon at unix:///x.sock."),
            lambda x: x.engine_error.startswith("Cannot connect") and x.engine_version is None,
        ),
        (
            section("engine", "20.10|/d")
            + section("df", "Filesystem ...", "/dev/vda 10 5 5 50% /"),
            lambda x: [d.path for d in x.disks] == ["/"],
        ),
        (
            section("meminfo", "MemTotal: 0 kB", "MemAvailable: 0 kB"),
            lambda x: x.mem_available_pct is None,
        ),
        (section("loadavg", "garbage"), lambda x: x.load is None and "loadavg" in x.errors),
        (
            section("events", "!error: docker events failed"),
            lambda x: not x.events_ok and x.recent_dies == {},
        ),
        (section("events"), lambda x: x.events_ok and x.recent_dies == {}),
        (section("managed", "--deployer-containers--"), lambda x: x.containers == []),
        (
            section(
                "managed",
                "--deployer-containers--",
                inspect_line(name="/web_prev_abc", status="exited", running=False),
            ),
            lambda x: x.live("web") is None and len(x.containers) == 1,
        ),
        (section("clock", "not-a-number"), lambda x: x.clock is None),
        ("noise before any marker\n" + section("nproc", "8"), lambda x: x.cpus == 8),
    ],
    ids=[
        "empty",
        "engine-down",
        "one-disk",
        "zero-mem",
        "bad-loadavg",
        "events-failed",
        "no-events",
        "no-containers",
        "only-retained",
        "bad-clock",
        "noise",
    ],
)
def test_partial_outputs(output: str, check: object) -> None:
    assert callable(check)
    assert check(f.parse(output))


def test_script_is_one_command_with_every_section() -> None:
    s = f.script()
    for name in (
        "clock",
        "engine",
        "df",
        "meminfo",
        "loadavg",
        "nproc",
        "uptime",
        "listen",
        "events",
        "ps",
        "managed",
        "images",
    ):
        assert f.MARK.format(name) in s
    assert "exit 1" not in s  # a failing part must not end the script
    assert s.rstrip().endswith("exit 0")


def test_inspect_survives_images_without_healthcheck() -> None:
    # `{{if .State.Health}}` makes docker inspect fail for such containers (seen on the lab).
    s = f.script()
    assert "{{if .State.Health}}" not in s and 'index .State "Health"' in s
