"""The health script on a real `sh`: one `docker ps -a` serves both the list of every
container and the ids of deployer's own; their inspect lines give the image ids; the
proxy is inspected only where `docker ps` shows one. `docker` is a fake on PATH that logs
its arguments and answers with canned lines (what docker prints for these formats)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from deployer.docker.health_script import script
from deployer.health.facts import parse

WEB = "a" * 64
OLD = "b" * 64
PROXY = "c" * 64
OTHER = "d" * 64
IMG = "sha256:" + "1" * 64
IMG_OLD = "sha256:" + "2" * 64


def ps_line(cid: str, name: str, image: str, state: str, managed: str) -> str:
    return json.dumps(
        {"id": cid, "name": name, "image": image, "state": state, "ports": "", "managed": managed},
        separators=(",", ":"),
    )


def inspect_line(cid: str, name: str, image_id: str, labels: dict[str, str]) -> str:
    return json.dumps(
        {
            "id": cid,
            "name": "/" + name,
            "created": "2026-11-29T06:00:00Z",
            "image_id": image_id,
            "image": "reg/web:v1",
            "labels": labels,
            "status": "running",
            "running": True,
            "exit_code": 0,
            "started_at": "2026-11-29T06:00:01Z",
            "finished_at": "0001-01-01T00:00:00Z",
            "health": None,
            "restarts": 0,
            "ports": {},
            "ip": "172.17.0.2 ",
        },
        separators=(",", ":"),
    )


def run(tmp_path: Path, ps: list[str], ps_fails: bool = False) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    labels = {"deployer.managed": "true", "deployer.name": "web"}
    # a label value holding what looks like a field must not be read as one
    tricky = dict(labels, note='"image_id":"sha256:' + "9" * 64 + '"')
    answers = {
        "info": "26.1.5|/var/lib/docker",
        "ps": "\n".join(ps),
        "inspect_managed": "\n".join(
            [inspect_line(WEB, "web", IMG, tricky), inspect_line(OLD, "web_old", IMG_OLD, labels)]
        ),
        "image": "\n".join(
            json.dumps({"id": i, "tags": ["reg/web:v1"], "digests": []}) for i in (IMG, IMG_OLD)
        ),
        "proxy": "true reg/caddy:2",
    }
    files = {}
    for key, text in answers.items():
        files[key] = tmp_path / f"{key}.out"
        files[key].write_text(text + "\n")
    q = shlex.quote
    (bin_dir / "docker").write_text(
        f'#!/bin/sh\necho "$*" >> {q(str(log))}\n'
        'case "$*" in\n'
        f"  info*) cat {q(str(files['info']))};;\n"
        "  events*) ;;\n"
        f"  'ps -a'*) {'exit 1' if ps_fails else 'cat ' + q(str(files['ps']))};;\n"
        f"  'image inspect'*) cat {q(str(files['image']))};;\n"
        f"  *deployer-proxy) cat {q(str(files['proxy']))};;\n"
        f"  inspect*) cat {q(str(files['inspect_managed']))};;\n"
        "esac\n"
    )
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    res = subprocess.run(
        ["sh", "-c", script(str(tmp_path / "state"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return res.stdout, calls


def test_one_ps_gives_every_container_deployers_ids_and_the_proxy(tmp_path: Path) -> None:
    ps = [
        ps_line(WEB, "web", "reg/web:v1", "running", "true"),
        ps_line(OLD, "web_old", "reg/web:v0", "exited", "true"),
        ps_line(PROXY, "deployer-proxy", "reg/caddy:2", "running", ""),
        ps_line(OTHER, "by-hand", "redis", "running", "false"),
    ]
    out, calls = run(tmp_path, ps)
    facts = parse(out)
    assert [c.name for c in facts.containers] == ["web", "web_old"]
    assert sorted(facts.images) == [IMG, IMG_OLD]
    assert {o.name for o in facts.others} == {"web", "web_old", "deployer-proxy", "by-hand"}
    assert facts.proxy == (True, "reg/caddy:2")
    assert facts.engine_version == "26.1.5"
    inspect = [c for c in calls if c.startswith('inspect --format {"id"')]
    assert len(inspect) == 1 and inspect[0].split()[-2:] == [WEB, OLD]  # only deployer's
    image = [c for c in calls if c.startswith("image inspect")]
    assert len(image) == 1 and image[0].split()[-2:] == [IMG, IMG_OLD]  # not the label's
    assert [c.split()[0] for c in calls] == ["info", "events", "ps", "inspect", "image", "inspect"]


def test_no_proxy_no_managed_container_means_two_calls_fewer(tmp_path: Path) -> None:
    out, calls = run(tmp_path, [ps_line(OTHER, "by-hand", "redis", "running", "false")])
    facts = parse(out)
    assert facts.containers == [] and facts.images == {} and facts.proxy is None
    assert [c.split()[0] for c in calls] == ["info", "events", "ps"]


def test_a_failing_ps_is_said_and_nothing_is_inspected(tmp_path: Path) -> None:
    out, calls = run(tmp_path, [], ps_fails=True)
    facts = parse(out)
    assert facts.errors.get("ps") == "docker ps failed"
    assert "!error: docker ps failed" in out.split("--deployer-health:managed--")[1]
    assert facts.containers == [] and facts.proxy is None
    assert [c.split()[0] for c in calls] == ["info", "events", "ps"]


def test_the_api_paths_host_script_keeps_the_routes_and_the_engine_address_apart(
    tmp_path: Path,
) -> None:
    """The Engine API path's shell command (host sections + where the engine listens) on a
    real sh, with one proxy route on file: the route is read, the address line is not
    taken for a route (it once was: `routes` unreadable on every proxied host)."""
    from deployer.docker import engine_route as er
    from deployer.docker import proxy as px
    from deployer.docker.health_script import clock_of, host_script
    from deployer.model import ProxySpec

    routes = tmp_path / "state" / "proxy" / "routes"
    routes.mkdir(parents=True)
    route = px.route_json("site", ProxySpec(port=8080, host="a.example"), "ab" * 32)
    (routes / "09996=site.json").write_text(route)
    sock = tmp_path / "docker.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "HOME": str(tmp_path)}
    out = subprocess.run(
        ["sh", "-c", host_script(str(tmp_path / "state"), er.probe_lines())],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    facts = parse(out)
    assert not facts.errors, facts.errors
    assert [(r.name, r.host, r.port) for r in facts.routes] == [("site", "a.example", 8080)]
    assert facts.clock == clock_of(out) and facts.clock and facts.mem_total_kb and facts.cpus
    assert er.parse_probe(out) == er.EngineAddress(f"unix://{sock}", "missing", "-")


def test_the_api_paths_host_script_takes_df_of_the_default_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One command fewer per host on the Engine API path: the host script's df covers / and
    the default data root, so only an engine keeping its data elsewhere takes a df of its
    own (targets/api_health.py), whose section then replaces the host script's."""
    from deployer.docker import engine_route as er
    from deployer.docker import health_script as hs

    root = tmp_path / "docker-root"
    root.mkdir()
    monkeypatch.setattr(hs, "DEFAULT_DATA_ROOT", str(root))
    out = subprocess.run(
        ["sh", "-c", hs.host_script(str(tmp_path / "state"), er.probe_lines())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    engine = f"--deployer-health:engine--\n24.0.7|{root}\n"
    facts = parse(out + engine)
    assert [d.path for d in facts.disks] == ["/", str(root)]
    assert all(d.size_kb > 0 for d in facts.disks)
    elsewhere = "--deployer-health:engine--\n24.0.7|/srv/docker\n"
    df = "--deployer-health:df--\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
    df += "/dev/a 100 40 60 40% /\n/dev/b 200 150 50 75% /srv\n"
    facts = parse(out + elsewhere + df)  # the df the API path ran for /srv/docker
    assert [(d.path, d.mount, d.used_pct) for d in facts.disks] == [
        ("/", "/", 40),
        ("/srv/docker", "/srv", 75),
    ]
