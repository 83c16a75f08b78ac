"""`deployer health` against the real lab: scenarios set up with plain docker runs, read back
through the Python API and the real CLI (JSON schema, exit codes, HTML in headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from deployer.docker.commands import run_argv
from deployer.health import gather
from deployer.health.model import HealthReport, HostHealth
from deployer.health.schema import JSON_SCHEMA
from deployer.inventory import load_inventory
from deployer.model import ContainerSpec, HealthSpec, HostConn, Play, Playbook, PortSpec

pytestmark = pytest.mark.lab

WEB = ["h1", "h2", "h3"]


def lab_var(lab, name: str) -> str:  # type: ignore[no-untyped-def]
    return yaml.safe_load(Path(lab.inventory).read_text())["all"]["vars"][name]


@pytest.fixture(scope="module")
def quiet_inv(lab, tmp_path_factory: pytest.TempPathFactory) -> list[str]:  # type: ignore[no-untyped-def]
    """The lab inventory plus a file lifting the load threshold: the test machine is busy."""
    extra = tmp_path_factory.mktemp("inv") / "quiet.yml"
    extra.write_text("all:\n  vars:\n    deployer_health_load_warn: 1000\n")
    return [str(lab.inventory), str(extra)]


def conns(inv: list[str], **extra_vars: object) -> list[HostConn]:
    inventory = load_inventory(inv)
    out = []
    for name in WEB:
        c = inventory.host_conn(name)
        out.append(HostConn(**{**c.__dict__, "vars": {**c.vars, **extra_vars}}))
    return out


def spec(
    image: str, health: HealthSpec | None = None, restart: str = "unless-stopped"
) -> ContainerSpec:
    return ContainerSpec(
        name="web",
        image=image,
        ports=(PortSpec(80, host_port=8080),),
        restart=restart,
        health=health or HealthSpec(kind="http", port=80, path="/healthz"),
    )


def run_managed(lab, host: str, s: ContainerSpec) -> None:  # type: ignore[no-untyped-def]
    res = lab.docker(host, *run_argv(s, None, "2024-01-01T00:00:00+00:00", "test")[1:])
    assert res.returncode == 0, res.stderr


def wait_docker_health(lab, host: str, name: str = "web", want: str = "healthy") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = lab.docker(
            host, "inspect", "--format", "{{.State.Health.Status}}", name
        ).stdout.strip()
        if got == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{host}/{name} never turned {want}")


def playbook(hosts: list[HostConn], per_host: dict[str, ContainerSpec]) -> Playbook:
    return Playbook("test.yml", (Play("t", tuple(hosts), {h: (s,) for h, s in per_host.items()}),))


def by_name(report: HealthReport) -> dict[str, HostHealth]:
    return {h.name: h for h in report.hosts}


def has(host: HostHealth, pattern: str) -> bool:
    return any(re.search(pattern, r) for r in host.reasons)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployer", "health", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_stopped_crash_loop_and_failing_http(clean_lab, quiet_inv: list[str]) -> None:  # type: ignore[no-untyped-def]
    v1, crash = lab_var(clean_lab, "lab_image_v1"), lab_var(clean_lab, "lab_image_crash")
    hosts = conns(quiet_inv)
    run_managed(clean_lab, "h1", spec(v1))
    run_managed(clean_lab, "h2", spec(crash, restart="always"))
    bad_http = spec(v1, HealthSpec(kind="http", port=80, path="/nope"))
    run_managed(clean_lab, "h3", bad_http)
    assert clean_lab.docker("h1", "stop", "-t", "1", "web").returncode == 0
    deadline = time.monotonic() + 20
    while (
        int(clean_lab.docker("h2", "inspect", "--format", "{{.RestartCount}}", "web").stdout or 0)
        < 5
    ):
        assert time.monotonic() < deadline, "the crash image never restarted 5 times"
        time.sleep(0.2)
    wait_docker_health(clean_lab, "h3")
    book = playbook(hosts, {"h1": spec(v1), "h2": spec(crash, restart="always"), "h3": bad_http})
    r = by_name(gather(hosts, book))
    assert r["h1"].verdict == "unhealthy" and has(r["h1"], r"^web: exited$"), r["h1"].reasons
    assert r["h2"].verdict != "healthy" and has(r["h2"], r"^web: \d+ restarts in 10 min$"), r[
        "h2"
    ].reasons
    assert r["h3"].verdict == "unhealthy" and has(
        r["h3"], r"^web: HTTP 404 on /nope \(wants 200\)"
    ), r["h3"].reasons
    web3 = r["h3"].containers[0]
    assert (
        web3.digest
        and web3.digest.startswith("sha256:")
        and web3.ports
        and web3.health == "healthy"
    )


def test_closed_port_drift_and_port_taken(clean_lab, quiet_inv: list[str]) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = lab_var(clean_lab, "lab_image_v1"), lab_var(clean_lab, "lab_image_v2")
    hosts = conns(quiet_inv)
    closed = spec(v1, HealthSpec(kind="tcp", port=81))
    run_managed(clean_lab, "h1", closed)
    run_managed(clean_lab, "h2", spec(v1))
    assert clean_lab.docker("h2", "rm", "-f", "web").returncode == 0  # someone by hand:
    assert clean_lab.docker("h2", "run", "-d", "--name", "web", "-p", "8080:80", v2).returncode == 0
    assert (
        clean_lab.docker("h3", "run", "-d", "--name", "squatter", "-p", "8080:80", v1).returncode
        == 0
    )
    book = playbook(hosts, {"h1": closed, "h2": spec(v1), "h3": spec(v1)})
    r = by_name(gather(hosts, book))
    assert r["h1"].verdict == "unhealthy" and has(r["h1"], r"^web: TCP port 81 closed"), r[
        "h1"
    ].reasons
    assert r["h2"].verdict == "degraded", r["h2"].reasons
    assert has(r["h2"], r"^web runs web:v2, playbook wants v1$") and has(
        r["h2"], "not started by deployer"
    )
    assert r["h3"].verdict == "unhealthy" and has(r["h3"], r"^web: missing"), r["h3"].reasons
    assert has(r["h3"], r"^web: port 8080 is taken by container squatter")


def test_cli_json_schema_low_disk_threshold_and_playbook(
    clean_lab, quiet_inv: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    v1 = lab_var(clean_lab, "lab_image_v1")
    for h in WEB:
        run_managed(clean_lab, h, spec(v1))
    for h in WEB:
        wait_docker_health(clean_lab, h)
    book = tmp_path / "web.yml"
    book.write_text(
        "- name: web\n  hosts: web\n  containers:\n    - name: web\n"
        '      image: "{{ lab_image_v1 }}"\n      ports: ["8080:80"]\n'
        "      health:\n        http: {port: 80, path: /healthz}\n"
    )
    inv = [a for i in quiet_inv for a in ("-i", i)]
    proc = cli(*inv, str(book), "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, JSON_SCHEMA)
    assert [(h["name"], h["verdict"]) for h in doc["hosts"]] == [(h, "healthy") for h in WEB]
    assert doc["hosts"][0]["containers"][0]["probe"]["status"] == 200
    proc = cli(*inv, "--limit", "web", "-e", "deployer_health_disk_warn=1")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for h in WEB:
        assert re.search(rf"{h}: disk / \d+% used \(warning at 1%\)", proc.stdout), proc.stdout
    proc = cli(*inv, "-e", "deployer_health_disk_warn=lots")
    assert proc.returncode == 5 and "deployer_health_disk_warn must be a number" in proc.stderr
    assert "Traceback" not in proc.stderr


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed (apt-get install -y chromium; scripts/install.sh)"
    return path


def test_html_renders_in_headless_chromium(clean_lab, quiet_inv: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    browser = chromium()  # fails, not skips, without a browser
    v1 = lab_var(clean_lab, "lab_image_v1")
    run_managed(clean_lab, "h1", spec(v1))
    assert clean_lab.docker("h1", "stop", "-t", "1", "web").returncode == 0
    page = tmp_path / "health.html"
    inv = [a for i in quiet_inv for a in ("-i", i)]
    proc = cli(*inv, "--limit", "web", "-o", "html", "--out", str(page))
    assert proc.returncode == 3, proc.stderr
    profile = tempfile.mkdtemp(prefix="deployer-chromium-")
    try:
        dom = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert 'data-rendered="yes"' in dom, dom[:2000]
    cards = dict(
        re.findall(r'<div class="host [^"]*" data-host="([^"]+)" data-verdict="([a-z]+)"', dom)
    )
    assert cards == {"h1": "unhealthy", "h2": "healthy", "h3": "healthy"}, dom[:3000]
    assert "web: exited" in dom


def test_unreachable_host_exit_4(clean_lab, quiet_inv: list[str]) -> None:  # type: ignore[no-untyped-def]
    inv = [a for i in quiet_inv for a in ("-i", i)]
    clean_lab.stop_sshd("h3")
    try:
        proc = cli(*inv, "--limit", "web", "-o", "json")
        assert proc.returncode == 4, proc.stdout + proc.stderr
        doc = json.loads(proc.stdout)
        verdicts = {h["name"]: h["verdict"] for h in doc["hosts"]}
        assert verdicts == {"h1": "healthy", "h2": "healthy", "h3": "unreachable"}
        h3 = next(h for h in doc["hosts"] if h["name"] == "h3")
        assert "connection refused" in h3["reasons"][0] and "nothing listens" in h3["reasons"][0]
    finally:
        clean_lab.start_sshd("h3")
