"""Docker Hub names on the lab (issue 13): every engine's registry mirror is the lab's hub,
so `nginx:1.22` and `deployer/demo-web:v1` pull as a user writes them, fast, and a name
the hub lacks fails at once (the hosts route nothing out of the lab). `FROM nginx` builds
on the inventory's builder; the seed's example (examples/site) builds with its
.dockerignore honoured and, where `deployer build` exists, deploys as its README says.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "examples" / "site"


def lab_vars(lab) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(lab.inventory.read_text())["all"]["vars"]


def fresh_pull(lab, host: str, image: str) -> subprocess.CompletedProcess[str]:
    """Remove the image from the host, then `docker pull` it over SSH as a user would."""
    q = shlex.quote(image)
    return lab.sh(host, f"docker rmi -f {q} >/dev/null 2>&1; docker pull -q {q}", check=False)


@pytest.mark.parametrize("host", ["h2", "p1"])
@pytest.mark.parametrize("which", ["lab_hub_nginx", "lab_hub_image_v1", "lab_hub_busybox"])
def test_a_docker_hub_name_pulls_from_the_mirror(lab, host: str, which: str) -> None:
    """The hosts have no route out: a pull by a Hub name that works came from the mirror.
    (How fast is the bench's and README's to say, not a test's.)"""
    image = lab_vars(lab)[which]
    name = image.rsplit(":", 1)[0]
    assert not any(c in name.split("/")[0] for c in ".:") or "/" not in name, image  # Hub's
    try:
        proc = fresh_pull(lab, host, image)
        assert proc.returncode == 0, proc.stderr
        assert "timeout" not in proc.stderr.lower(), proc.stderr
        digests = lab.sh(host, f"docker image inspect -f '{{{{json .RepoDigests}}}}' {image}")
        assert any(d.startswith(f"{name}@sha256:") for d in json.loads(digests.stdout)), digests
    finally:
        lab.docker(host, "rmi", "-f", image)


def test_a_name_the_hub_lacks_fails_without_waiting_for_a_timeout(lab) -> None:
    image = f"nobody-{uuid.uuid4().hex[:8]}/nothing:1"
    proc = lab.sh("h1", f"docker pull {image}", check=False)
    assert proc.returncode != 0
    # Docker Hub itself is never reached: the lookup is refused inside the host
    assert "registry-1.docker.io" in proc.stderr, proc.stderr
    assert "timeout" not in proc.stderr.lower(), proc.stderr


@pytest.mark.parametrize("host", ["h1", "bastion", "p1"])
def test_hosts_route_nothing_out_of_the_lab(lab, host: str) -> None:
    """Only the lab's addresses have a route; anything else is unreachable (route lookups
    only: nothing is sent)."""
    routes = lab.sh(host, "ip -4 route show").stdout
    assert "unreachable default" in [ln.strip() for ln in routes.splitlines()], routes
    assert "default via" not in routes, routes
    outside = lab.sh(host, "ip route get 198.51.100.7", check=False)
    assert outside.returncode != 0, outside.stdout
    inside = lab.sh(host, f"ip route get {lab.layout.gateway}").stdout
    assert " dev eth0 " in inside, inside


def test_the_hub_serves_anonymous_pulls_and_refuses_pushes(clean_lab) -> None:
    lab = clean_lab
    hub = lab.layout.registry_hub
    assert lab_vars(lab)["lab_registry_hub"] == hub
    with urllib.request.urlopen(f"http://{hub}/v2/library/nginx/tags/list", timeout=5) as resp:
        tags = json.loads(resp.read())["tags"]
    tag = lab_vars(lab)["lab_hub_nginx"].split(":")[1]
    assert {tag, "latest"} <= set(tags), tags
    evil = f"{hub}/library/nginx:evil"
    try:
        assert lab.docker("h1", "pull", "-q", lab_vars(lab)["lab_hub_nginx"]).returncode == 0
        assert lab.docker("h1", "tag", lab_vars(lab)["lab_hub_nginx"], evil).returncode == 0
        push = lab.docker("h1", "push", evil)
        assert push.returncode != 0, push.stdout
        with urllib.request.urlopen(f"http://{hub}/v2/library/nginx/tags/list", timeout=5) as r:
            assert "evil" not in json.loads(r.read())["tags"]
    finally:
        lab.docker("h1", "rmi", "-f", evil, lab_vars(lab)["lab_hub_nginx"])


def test_nginx_serves_its_page_logs_to_docker_and_stops_at_once(clean_lab) -> None:
    lab = clean_lab
    image = lab_vars(lab)["lab_hub_nginx"]
    name = f"hubng-{uuid.uuid4().hex[:6]}"
    run = lab.sh("h2", f"docker run -d --name {name} -p 8088:80 {image}", check=False)
    assert run.returncode == 0, run.stderr
    try:
        url = f"http://{lab.host('h2').address}:8088/"
        body = ""
        deadline = time.monotonic() + 10
        while "Welcome to nginx!" not in body and time.monotonic() < deadline:
            proc = subprocess.run(["curl", "-sS", "--max-time", "2", url], capture_output=True)
            body = proc.stdout.decode(errors="replace")
            time.sleep(0.1)
        assert "Welcome to nginx!" in body, body
        missing = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{url}nope"],
            capture_output=True,
            text=True,
        )
        assert missing.stdout == "404"
        logs = lab.docker("h2", "logs", name)
        assert '"GET / HTTP/1.1" 200' in logs.stdout, logs  # access log -> stdout
        assert "GET /nope" in logs.stderr, logs  # error log -> stderr
        workers = lab.docker("h2", "top", name).stdout
        assert "nginx: master process" in workers and "nginx: worker process" in workers
        assert lab.docker("h2", "stop", "-t", "30", name).returncode == 0
        code = lab.docker("h2", "inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "0", "nginx did not exit on SIGTERM (137: killed after the grace)"
    finally:
        lab.docker("h2", "rm", "-f", name)


def test_busybox_runs(clean_lab) -> None:
    lab = clean_lab
    image = lab_vars(lab)["lab_hub_busybox"]
    try:
        proc = lab.sh("h3", f"docker run --rm {image} sh -c 'echo hi from $(uname -s)'")
        assert proc.stdout.strip() == "hi from Linux"
    finally:
        lab.docker("h3", "rmi", "-f", image)


def test_from_nginx_builds_on_the_builder(clean_lab) -> None:
    """The seed's example, built with `docker build` on the inventory's builder: the base
    image comes through the mirror, and .dockerignore keeps its files out."""
    lab = clean_lab
    v = lab_vars(lab)
    builder = v["deployer_builder"]
    assert builder in lab.web_hosts()
    tag = f"site-test:{uuid.uuid4().hex[:6]}"
    lab.docker(builder, "rmi", "-f", "nginx", "nginx:latest")  # FROM pulls it anew
    try:
        started = time.monotonic()
        build = lab.docker(builder, "build", "-q", "-t", tag, str(SITE))
        assert build.returncode == 0, build.stderr
        assert time.monotonic() - started < 30
        files = lab.docker(
            builder, "run", "--rm", tag, "sh", "-c", "cd /usr/share/nginx/html && ls -A"
        ).stdout.split()
        assert {"index.html", "robots.txt", "50x.html"} <= set(files), files
        for left_out in ("secret.txt", "README.md", "site.yml", "Dockerfile", ".dockerignore"):
            assert (SITE / left_out).exists(), left_out  # in the folder ...
            assert left_out not in files, files  # ... not in the image
        name = f"site-{uuid.uuid4().hex[:6]}"
        run = lab.docker(builder, "run", "-d", "--name", name, "-p", "8087:80", tag)
        assert run.returncode == 0, run.stderr
        url = f"http://{lab.host(builder).address}:8087/"
        body = ""
        deadline = time.monotonic() + 10
        while "deployer site" not in body and time.monotonic() < deadline:
            body = subprocess.run(
                ["curl", "-sS", "--max-time", "2", url], capture_output=True, text=True
            ).stdout
            time.sleep(0.1)
        assert "<h1>deployer site</h1>" in body, body
    finally:
        lab.docker(builder, "rm", "-f", *lab.docker(builder, "ps", "-aq").stdout.split())
        lab.docker(builder, "rmi", "-f", tag, "nginx")


@pytest.mark.skipif(
    importlib.util.find_spec("deployer.engine.build") is None,
    reason="`deployer build` is not in this tree (issue 13's build and push)",
)
def test_the_site_walk_through(clean_lab, tmp_path: Path) -> None:
    """examples/site/README.md on the lab: deploy --build, then health."""
    from test_deploy import cli_env, deployer

    lab = clean_lab
    env = cli_env(tmp_path / "home")
    inv = str(lab.inventory)
    playbook = str(SITE / "site.yml")
    validate = deployer(env, "validate", playbook, "-i", inv)
    assert validate.code == 0, validate
    # --allow-dirty: the tag is the folder's commit (with -dirty should it be edited)
    run = deployer(env, "deploy", playbook, "-i", inv, "--build", "--allow-dirty", timeout=300)
    assert run.code == 0, run
    assert "@sha256:" in run.out, run
    for host in lab.web_hosts():
        addr = lab.host(host).address
        body = subprocess.run(
            ["curl", "-sS", "--max-time", "3", f"http://{addr}:8081/"],
            capture_output=True,
            text=True,
        ).stdout
        assert "<h1>deployer site</h1>" in body, (host, body)
    # the lab's hosts share this machine's load (other tests, a second lab): not judged here
    health = deployer(env, "health", "-i", inv, playbook, "-e", "deployer_health_load_warn=1000")
    assert health.code == 0, health
