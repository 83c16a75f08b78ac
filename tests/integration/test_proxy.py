"""Proxy mode on the lab, under load (issue 11).

During each case a load generator (deployer/lab/load.py) sends requests on new
connections to every web host's public port every few milliseconds, plus slow requests
(~3 s, /cgi-bin/slow) that straddle the switch. The proxy mode must fail none of them;
plain `ports` mode is measured the same way (it is expected to fail some: the gap).
"""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import time

import pytest
from test_deploy import WEB, deploy, deployer, env, image  # noqa: F401

from deployer.lab.load import Load

pytestmark = pytest.mark.lab


def targets(lab, port: int = 80) -> dict[str, tuple[str, int]]:
    return {h: (lab.host(h).address, port) for h in WEB}


def names(lab, host: str) -> list[str]:
    return sorted(lab.docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.split())


def running_image(lab, host: str, name: str = "site") -> str:
    return lab.docker(host, "inspect", "--format", "{{.Config.Image}}", name).stdout.strip()


@pytest.fixture
def proxied_v1(clean_lab, env):
    """v1 behind the proxy on every web host."""
    res = deploy(clean_lab, env, "proxy.yml")
    assert res.code == 0, res
    return clean_lab


def check_clean(load: Load, what: str) -> None:
    """No failed request: no HTTP error, no timeout, no reset, no slow request cut. (Caddy
    rebinds its port at every config reload; the proxy's tcp_migrate_req moves the queued
    connections to the new socket instead of resetting them.)"""
    failed = load.failed()
    assert not failed, f"{what}: {len(failed)} failed requests, e.g. {failed[:3]}; {load.summary()}"


def test_rollout_v1_to_v2_fails_no_request_and_then_only_v2_answers(proxied_v1, env) -> None:
    lab = proxied_v1
    with Load(targets(lab), interval=0.01, slow_every=0.7) as load:
        time.sleep(1.5)  # slow requests in flight on v1 when the switch comes
        res = deploy(lab, env, "proxy.yml", "-e", f"image={image(lab, 'v2')}")
        switched = time.monotonic()
        time.sleep(1.0)
    assert res.code == 0, res
    check_clean(load, "v1 -> v2")
    assert load.slow_completed() >= 3, load.summary()
    for host in WEB:
        # after the run returned, only v2 answers
        assert load.versions_after(switched)[host] == {"v2"}, (host, load.summary())
        assert running_image(lab, host) == image(lab, "v2")
        assert any(n.startswith("site_prev_") for n in names(lab, host)), names(lab, host)


def test_proxy_reloads_under_load_reset_no_connection(proxied_v1) -> None:
    """Caddy rebinds its port (SO_REUSEPORT) at each reload and closes the old socket; the
    kernel used to reset the connections queued on it (1-2 per 20 reloads at this load). The
    proxy runs with net.ipv4.tcp_migrate_req=1, which moves them to the new socket."""
    lab = proxied_v1
    reload = (
        "for i in $(seq 20); do docker exec -i deployer-proxy caddy reload --force "
        "--config /dev/stdin < /var/lib/deployer/proxy/caddy.json 2>/dev/null || exit 1; done"
    )
    with Load(targets(lab), interval=0.002, slow_path=None) as load:
        time.sleep(0.3)
        for host in WEB:
            lab.sh(host, reload)
        time.sleep(0.3)
    check_clean(load, "20 reloads per host")
    for host in WEB:
        sysctls = lab.docker(
            host, "inspect", "--format", "{{json .HostConfig.Sysctls}}", "deployer-proxy"
        )
        assert "tcp_migrate_req" in sysctls.stdout, sysctls


@pytest.mark.parametrize("kind", ["unhealthy", "crash"])
def test_a_bad_version_never_takes_a_request(proxied_v1, env, kind) -> None:
    lab = proxied_v1
    with Load(targets(lab), interval=0.01, slow_every=1.0) as load:
        time.sleep(0.5)
        res = deploy(lab, env, "proxy.yml", "-e", f"image={image(lab, kind)}", "-o", "json")
        time.sleep(0.5)
    assert res.code == 3, res
    check_clean(load, kind)
    # never-healthy and crashing images serve no page (no version): every answer was v1
    for host in WEB:
        assert load.versions_after(0.0)[host] == {"v1"}, (host, load.summary())
        h = res.hosts()[host]
        assert h["status"] == "failed" and "kept serving" in h["reason"], h
        assert running_image(lab, host) == image(lab, "v1")
        assert not [n for n in names(lab, host) if "_next_" in n], names(lab, host)


def test_rollback_fails_no_request(proxied_v1, env) -> None:
    lab = proxied_v1
    assert deploy(lab, env, "proxy.yml", "-e", f"image={image(lab, 'v2')}").code == 0
    with Load(targets(lab), interval=0.01, slow_every=0.7) as load:
        time.sleep(1.5)
        res = deployer(env, "rollback", str(_playbook("proxy.yml")), "-i", str(lab.inventory))
        back = time.monotonic()
        time.sleep(1.0)
    assert res.code == 0, res
    check_clean(load, "rollback")
    for host in WEB:
        assert load.versions_after(back)[host] == {"v1"}, (host, load.summary())


def test_two_apps_behind_one_proxy_routed_by_host(clean_lab, env) -> None:
    lab = clean_lab
    assert deploy(lab, env, "proxy_two.yml").code == 0
    a = Load(targets(lab), interval=0.02, slow_every=1.0, host_header="a.example")
    b = Load(targets(lab), interval=0.02, slow_every=1.0, host_header="b.example")
    with a, b:
        time.sleep(0.5)
        res_a = deploy(lab, env, "proxy_two.yml", "-e", f"image_a={image(lab, 'v2')}")
        after_a = time.monotonic()
        time.sleep(0.5)
        res_b = deploy(
            lab,
            env,
            "proxy_two.yml",
            "-e",
            f"image_a={image(lab, 'v2')}",
            "-e",
            f"image_b={image(lab, 'v2')}",
        )
        after_b = time.monotonic()
        time.sleep(0.5)
    assert res_a.code == 0, res_a
    assert res_b.code == 0, res_b
    # two switches per host, each one reload, seen by both loads
    check_clean(a, "app a")
    check_clean(b, "app b")
    for host in WEB:
        assert a.versions_after(after_a)[host] == {"v2"}, a.summary()
        # b was untouched by a's rollout, then rolled out itself
        assert b.versions_after(after_b)[host] == {"v2"}, b.summary()
        assert "v1" in {r for r in b.versions_between(0.0, after_a)[host]}, b.summary()


def test_ports_mode_drops_requests_the_proxy_mode_does_not(clean_lab, env) -> None:
    """The number the benchmark records for plain ports: above zero (the gap per host)."""
    lab = clean_lab
    assert deploy(lab, env, "web.yml").code == 0
    with Load(targets(lab, 8080), interval=0.01, slow_every=1.0) as load:
        time.sleep(0.5)
        res = deploy(lab, env, "web.yml", "-e", f"image={image(lab, 'v2')}")
        time.sleep(0.5)
    assert res.code == 0, res
    print(f"ports mode, v1 -> v2 on {len(WEB)} hosts: {len(load.failed())} failed requests")
    assert load.failed(), load.summary()


def _playbook(name: str):
    from test_deploy import PLAYBOOKS

    return PLAYBOOKS / name


def test_https_with_a_certificate_from_the_inventory(clean_lab, env, tmp_path) -> None:
    """The certificate and key travel on stdin, land 0600 on the host, and the proxy serves
    HTTPS with the same routes; the key is in no report."""
    import subprocess

    lab = clean_lab
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
            "-subj", "/CN=site.example", "-addext", "subjectAltName=DNS:site.example",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    extra = tmp_path / "tls.yml"
    extra.write_text(
        "all:\n  hosts:\n    h1:\n"
        f"      deployer_proxy_tls_cert: {tmp_path / 'cert.pem'}\n"
        f"      deployer_proxy_tls_key: {tmp_path / 'key.pem'}\n"
        "      deployer_proxy_https_port: 8443\n"
    )
    res = deployer(
        env, "deploy", str(_playbook("proxy.yml")), "-i", str(lab.inventory), "-i", str(extra),
        "--limit", "h1", "-o", "json",
    )  # fmt: skip
    assert res.code == 0, res
    key = (tmp_path / "key.pem").read_text()
    body = key.split("-----")[2].strip().splitlines()[1]
    assert body not in res.out
    addr = lab.host("h1").address
    got = subprocess.run(
        [
            "curl", "-sS", "--max-time", "5", "--cacert", str(tmp_path / "cert.pem"),
            "--resolve", f"site.example:8443:{addr}", "https://site.example:8443/",
        ],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert "deployer demo v1" in got.stdout, got.stderr
    tls = lab.dir / "hosts" / "h1" / "fs" / "var_lib_deployer" / "proxy" / "tls"
    assert sorted(p.name for p in tls.iterdir()) == ["cert.pem", "key.pem"]
    assert all((p.stat().st_mode & 0o077) == 0 for p in tls.iterdir())


def test_health_shows_the_proxy_and_a_route_to_a_removed_container(proxied_v1, env) -> None:
    import json

    lab = proxied_v1
    args = ["health", "-i", str(lab.inventory), str(_playbook("proxy.yml")), "-o", "json"]
    doc = json.loads(deployer(env, *args, "--limit", "h1").stdout)
    proxy = doc["hosts"][0]["proxy"]
    site = lab.docker("h1", "inspect", "--format", "{{.Id}}", "site").stdout.strip()
    assert proxy["running"] and proxy["image"] == lab.layout.image("proxy"), proxy
    assert [(r["name"], r["container_id"], r["state"]) for r in proxy["routes"]] == [
        ("site", site[:12], "running")
    ]
    reasons = doc["hosts"][0]["reasons"]  # (a loaded machine may add a load warning)
    assert not [r for r in reasons if "route" in r or "proxy" in r], reasons
    lab.docker("h1", "rm", "-f", "site")
    res = deployer(env, *args, "--limit", "h1")
    host = json.loads(res.stdout)["hosts"][0]
    assert res.code == 3 and host["verdict"] == "unhealthy", host["reasons"]
    assert f"route site -> {site[:12]}: no such container" in host["reasons"], host["reasons"]


def test_a_stopped_proxy_is_started_by_a_no_op_run_and_a_broken_upgrade_puts_it_back(
    proxied_v1, env, tmp_path
) -> None:
    """The proxy's own state is work even when no app changes (a stopped proxy, a new image
    or certificate); an upgrade to an image that cannot run leaves the old proxy serving."""
    import json

    lab = proxied_v1
    lab.docker("h1", "stop", "deployer-proxy")
    res = deploy(lab, env, "proxy.yml", "--limit", "h1", "-o", "json")
    assert res.code == 0, res
    h1 = res.hosts()["h1"]
    assert h1["status"] == "changed" and h1["upkeep"] == ["proxy: stopped, to be started"], h1
    state = lab.docker("h1", "inspect", "--format", "{{.State.Running}}", "deployer-proxy")
    assert state.stdout.strip() == "true"
    again = deploy(lab, env, "proxy.yml", "--limit", "h1", "-o", "json")
    assert again.hosts()["h1"]["status"] == "ok", again.hosts()["h1"]

    # the web image has no `caddy`: the new proxy container is created but cannot start
    extra = tmp_path / "proxy-image.yml"
    extra.write_text(f"all:\n  hosts:\n    h1:\n      deployer_proxy_image: {image(lab, 'v2')}\n")
    with Load({"h1": (lab.host("h1").address, 80)}, interval=0.02, slow_every=60) as load:
        res = deployer(
            env, "deploy", str(_playbook("proxy.yml")), "-i", str(lab.inventory),
            "-i", str(extra), "--limit", "h1", "-o", "json",
        )  # fmt: skip
        time.sleep(0.5)
        after = time.monotonic()
        time.sleep(0.5)
    assert res.code == 3, res
    h1 = res.hosts()["h1"]
    assert "the old proxy was put back" in h1["reason"], h1
    assert load.versions_after(after)["h1"] == {"v1"}, load.summary()
    proxy = json.loads(lab.docker("h1", "inspect", "deployer-proxy").stdout)[0]
    assert proxy["Config"]["Image"] == lab.layout.image("proxy") and proxy["State"]["Running"]
    assert [n for n in names(lab, "h1") if n.startswith("deployer-proxy")] == ["deployer-proxy"]
