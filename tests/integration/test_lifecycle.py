"""The lifecycle keys against the real lab (issue 12): `state: absent` removes a container and
its retained versions (a proxied one loses its route first) and the next no-op is still 2
commands per host; `replace: never` leaves a changed accessory alone; `depends_on` orders the
starts; `deploy --prune-undeclared` removes only what deployer manages and no play declares,
and without a terminal nor --yes refuses, changing nothing."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import subprocess
import sys

import pytest
from test_deploy import REPO, Run, deploy, deployer, env, host_fs, image  # noqa: F401

pytestmark = pytest.mark.lab

HOSTS = ["h1", "h2"]


def names(lab, host: str) -> list[str]:
    return sorted(lab.docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.split())


def ids_of(lab, host: str) -> list[str]:
    return sorted(lab.docker(host, "ps", "-aq", "--no-trunc").stdout.split())


def running_image(lab, host: str, name: str) -> str:
    return lab.docker(host, "inspect", "--format", "{{.Config.Image}}", name).stdout.strip()


def routes(lab, host: str) -> list[str]:
    folder = host_fs(lab, host, "var_lib_deployer") / "proxy" / "routes"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def proxy_running(lab, host: str) -> bool:
    state = lab.docker(host, "inspect", "--format", "{{.State.Running}}", "deployer-proxy")
    return state.stdout.strip() == "true"


def audit_removals(lab, env) -> list[dict]:
    res = deployer(env, "audit", "-i", str(lab.inventory), "--limit", "h1:h2", "-o", "json")
    assert res.code == 0, res
    return [e for e in res.json() if e["action"] == "remove"]


def without_terminal(lab, env, playbook: str, *args: str) -> Run:
    """The CLI with stdin not a terminal (as in CI or cron)."""
    argv = [sys.executable, "-m", "deployer", "deploy", playbook, "-i", str(lab.inventory), *args]
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    return Run(argv, proc.returncode, proc.stdout, proc.stderr)


def test_absent_removes_the_container_and_its_versions_and_the_next_noop_is_2(
    clean_lab, env
) -> None:
    lab = clean_lab
    first = deploy(lab, env, "lifecycle.yml", "-o", "json")
    assert first.code == 0, first
    for h in HOSTS:  # depends_on: the accessory first
        assert [c["name"] for c in first.hosts()[h]["containers"]][:2] == ["db", "web"], first
    v2 = {"image": image(lab, "v2"), "db_image": image(lab, "v2")}
    e = [a for k, v in v2.items() for a in ("-e", f"{k}={v}")]
    second = deploy(lab, env, "lifecycle.yml", *e, "-o", "json")
    assert second.code == 0, second
    for h in HOSTS:
        actions = {c["name"]: c for c in second.hosts()[h]["containers"]}
        assert actions["site"]["action"] == "replace" and actions["web"]["action"] == "replace"
        db = actions["db"]  # replace: never: left alone, and the drift is said
        assert db["action"] == "noop", db
        assert db["changes"][0] == "spec changed, not replaced: replace: never", db
        assert running_image(lab, h, "db") == image(lab, "v1")
        assert any(n.startswith("site_prev_") for n in names(lab, h)), names(lab, h)
        assert any(r.endswith("=site.json") for r in routes(lab, h)), routes(lab, h)

    gone = deploy(lab, env, "lifecycle.yml", *e, "-e", "site_state=absent", "-o", "json")
    assert gone.code == 0, gone
    for h in HOSTS:
        (site,) = [c for c in gone.hosts()[h]["containers"] if c["name"] == "site"]
        assert site["action"] == "remove" and site["error"] is None, site
        assert site["old_image"] == image(lab, "v2") and site["new_image"] is None
        left = names(lab, h)
        assert not any(n == "site" or n.startswith("site_") for n in left), left
        assert {"web", "db", "extra", "deployer-proxy"} <= set(left), left
        assert not any(r.endswith("=site.json") for r in routes(lab, h)), routes(lab, h)
        assert proxy_running(lab, h)  # the proxy stays, without the route
    records = [r for r in audit_removals(lab, env) if r["container"] == "site"]
    assert sorted(r["host"] for r in records) == HOSTS  # one record per host and container
    for r in records:
        assert r["outcome"] == "ok" and r["detail"] == "state: absent"
        assert [x["image"] for x in r["removed"]] == [image(lab, "v2"), image(lab, "v1")]

    again = deploy(lab, env, "lifecycle.yml", *e, "-e", "site_state=absent", "-o", "json")
    assert again.code == 0, again
    for h, v in again.hosts().items():
        assert v["status"] == "ok" and v["commands"] == 2, (h, v)
        assert {c["name"]: c["action"] for c in v["containers"]}["site"] == "noop"


def test_prune_undeclared_removes_only_what_deployer_manages_and_no_play_declares(
    clean_lab, env
) -> None:
    lab = clean_lab
    assert (r := deploy(lab, env, "lifecycle.yml")).code == 0, r
    assert (r := deploy(lab, env, "lifecycle.yml", "--force", "--limit", "h1")).code == 0, r
    assert any(n.startswith("site_prev_") for n in names(lab, "h1")), names(lab, "h1")
    for h in HOSTS:  # a container started by hand: not deployer's
        hand = lab.docker(h, "run", "-d", "--name", "byhand", image(lab, "v1"))
        assert hand.returncode == 0, hand.stderr
    before = {h: ids_of(lab, h) for h in HOSTS}
    prune = str(REPO / "tests" / "integration" / "playbooks" / "prune.yml")

    refused = without_terminal(lab, env, prune, "--prune-undeclared")
    assert refused.code == 2, refused
    assert "no terminal to ask on: give --yes" in refused.stderr, refused
    assert {h: ids_of(lab, h) for h in HOSTS} == before  # nothing changed
    assert audit_removals(lab, env) == []

    done = without_terminal(lab, env, prune, "--prune-undeclared", "--yes", "-o", "json")
    assert done.code == 0, done
    removed = {
        (h["name"], c["name"])
        for h in done.json()["hosts"]
        for c in h["containers"]
        if c["action"] == "remove"
    }
    assert removed == {("h1", "site"), ("h1", "extra"), ("h2", "site")}, done
    kept = {h: [n for n in names(lab, h) if not n.startswith("web_prev_")] for h in HOSTS}
    assert kept == {
        "h1": ["byhand", "db", "deployer-proxy", "web"],  # web's retained version stays too
        "h2": ["byhand", "db", "deployer-proxy", "extra", "web"],
    }
    assert any(n.startswith("web_prev_") for n in names(lab, "h1"))
    for h in HOSTS:
        assert proxy_running(lab, h) and routes(lab, h) == []
    records = {(r["host"], r["container"]): r for r in audit_removals(lab, env)}
    assert set(records) == removed
    site_h1 = records[("h1", "site")]
    assert site_h1["detail"].startswith("undeclared") and len(site_h1["removed"]) == 2
