"""User-defined networks on the lab (issue 12): a play's networks are created on its hosts,
its containers join them and reach each other by name and alias, also after a replace."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import json

import pytest
from test_deploy import deploy, env, image  # noqa: F401

pytestmark = pytest.mark.lab

HOST = "h1"


def fetch(lab, name: str) -> str:
    """GET / of `name` from inside the app: the name resolved by Docker's DNS (busybox's
    nslookup; the static busybox's wget crashes on other hosts' addresses), then fetched
    with nc."""
    script = (
        f"ip=$(nslookup {name} 2>/dev/null | awk '/^Address: /{{a=$2}} END{{print a}}'); "
        '[ -n "$ip" ] || { echo "no address for the name"; exit 1; }; '
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 \"$ip\" 80"
    )
    res = lab.docker(HOST, "exec", "app", "sh", "-c", script)
    return f"{res.stdout}{res.stderr} (exit {res.returncode})"


def test_an_app_reaches_its_database_by_name_and_alias_also_after_a_replace(clean_lab, env) -> None:
    lab = clean_lab
    res = deploy(lab, env, "networks.yml", "--limit", HOST, "-o", "json")
    assert res.code == 0, res
    h = res.hosts()[HOST]
    assert sorted(h["upkeep"]) == [
        "network backend: to be created (bridge)",
        "network front: to be created (bridge)",
    ], h
    net = json.loads(lab.docker(HOST, "network", "inspect", "backend").stdout)[0]
    assert net["Driver"] == "bridge"
    assert net["Options"] == {"com.docker.network.bridge.enable_icc": "true"}
    nets = json.loads(
        lab.docker(HOST, "inspect", "--format", "{{json .NetworkSettings.Networks}}", "app").stdout
    )
    assert sorted(nets) == ["backend", "front"]
    assert "deployer demo v1" in fetch(lab, "db")
    assert "deployer demo v1" in fetch(lab, "database")

    # a no-op run: the networks exist, nothing to do, two commands
    again = deploy(lab, env, "networks.yml", "--limit", HOST, "-o", "json")
    h = again.hosts()[HOST]
    assert h["status"] == "ok" and h["upkeep"] == [] and h["commands"] == 2, h

    # the database replaced: the app finds the new one under the same name
    res = deploy(lab, env, "networks.yml", "--limit", HOST, "-e", f"db_image={image(lab, 'v2')}")
    assert res.code == 0, res
    assert "deployer demo v2" in fetch(lab, "db")
    assert "deployer demo v2" in fetch(lab, "database")


def test_a_network_that_exists_otherwise_fails_the_host_before_any_change(clean_lab, env) -> None:
    """`front` made by hand as internal, the play says not: deployer never recreates a
    network (other containers may use it), so the host fails at prepare, naming it."""
    lab, host = clean_lab, "h2"
    assert lab.docker(host, "network", "create", "--internal", "front").returncode == 0
    try:
        res = deploy(lab, env, "networks.yml", "--limit", host, "-o", "json")
        assert res.code != 0, res
        h = res.hosts()[host]
        assert h["status"] != "ok", h
        why = json.dumps(h)
        assert "network front exists on this host otherwise: it is internal" in why, h
        assert "could not read" not in why, h  # the reason as it is, not as a read failure
        assert lab.docker(host, "ps", "-aq").stdout.split() == [], "nothing was started"
        gone = lab.docker(host, "network", "inspect", "backend")
        assert gone.returncode != 0, "no network was created either"
    finally:
        lab.docker(host, "network", "rm", "front")
