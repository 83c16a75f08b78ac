"""docker run options on the lab (issue 12): what the playbook says is what docker runs."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import json
import os
import time

import pytest
from test_deploy import deploy, env  # noqa: F401

pytestmark = pytest.mark.lab


def test_limits_user_read_only_root_and_logs_as_docker_inspect_shows_them(clean_lab, env) -> None:
    lab = clean_lab
    res = deploy(lab, env, "options.yml", "--limit", "h1", "-o", "json")
    assert res.code == 0, res
    web = json.loads(lab.docker("h1", "inspect", "web").stdout)[0]
    hc = web["HostConfig"]
    assert hc["Memory"] == 64 << 20 and hc["MemoryReservation"] == 32 << 20
    assert hc["NanoCpus"] == 500_000_000
    assert web["Config"]["User"] == "65534:65534" and hc["ReadonlyRootfs"] is True
    assert hc["Tmpfs"] == {"/tmp": "size=1m"}
    assert hc["CapDrop"] == ["ALL"] and hc["CapAdd"] == ["CAP_NET_BIND_SERVICE"]
    assert web["Config"]["Hostname"] == "web-on-h1" and hc["ExtraHosts"] == ["db.internal:10.9.9.9"]
    assert hc["Init"] is True
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    # no `log:` in the playbook: the default that keeps a fleet's disks from filling
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    who = lab.docker("h1", "exec", "web", "id", "-u").stdout.strip()
    assert who == "65534"
    wrote = lab.docker("h1", "exec", "web", "touch", "/www/x")
    assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr

    # a json-file log stops growing past its limit
    time.sleep(2)
    chatty = json.loads(lab.docker("h1", "inspect", "chatty").stdout)[0]
    assert chatty["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10k", "max-file": "1"},
    }
    size = os.path.getsize(chatty["LogPath"])  # the lab's engines keep their files here
    assert 0 < size <= 10 * 1024 + 512, size  # 4000 lines (~380 kB) were written

    again = deploy(lab, env, "options.yml", "--limit", "h1", "-o", "json")
    h = again.hosts()["h1"]
    assert h["status"] == "ok" and h["commands"] == 2, h  # the options hash stably
