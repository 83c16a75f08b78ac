"""Defects the second review of proxy mode found (session 3's closing review); each test
failed before its fix. The scripts run on a real local `sh` with a fake `docker` on PATH
(test_proxy_scripts.Host); the engine-side ones with recording sessions."""

from __future__ import annotations

import os
import shlex
import stat
import time

import pytest
from test_proxy_fixes import RecordingSession
from test_proxy_scripts import NEW, OLD, PROXY_INSPECT, RELOAD, Host, assemble, host, spec

from deployer.docker import proxy as px
from deployer.docker import proxy_container as pxc
from deployer.model import ContainerSpec, HostConn, Observed, PortSpec, ProxyHost, ProxySpec
from deployer.targets import Attempt
from deployer.targets.proxied import Proxied
from deployer.targets.ssh import SshEngine

__all__ = ["host"]  # the fixture, shared with test_proxy_scripts


@pytest.fixture(autouse=True)
def short_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(px, "DRAIN_MIN_SECONDS", 0.1)


def fake_bin(host: Host, name: str, body: str) -> None:
    path = host.root / "bin" / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


# ---------------------------------------------------------------- 1: a failed proxy upgrade


def test_a_proxy_upgrade_that_fails_to_start_puts_the_old_proxy_back(host: Host) -> None:
    """ensure_script removed the old proxy (`docker rm -f deployer-proxy`) before the new one
    had started: a new image that cannot start (its port taken, a bad image) left the host
    with no proxy at all, every app unreachable."""
    started = host.root / "started-once"
    host.set_rules(
        {
            PROXY_INSPECT: "echo 0123456789abcdef true",  # an older proxy runs
            "inspect deployer-proxy": "exit 0",
            "inspect --format {{.State.Pid}} deployer-proxy": "echo 0",
            # the first start (the new proxy) fails; the next (the old one, back) works
            "start deployer-proxy": f"[ -f {started} ] && exit 0; : > {started}; "
            "echo 'port is already allocated' >&2; exit 1",
        }
    )
    res = host.run(pxc.ensure_script(ProxyHost(image="caddy:9"), str(host.state)))
    assert res.returncode == 1
    assert "did not start: port is already allocated" in res.stderr
    assert "the old proxy was put back" in res.stderr
    calls = host.calls()
    aside = calls.index("rename deployer-proxy deployer-proxy_old")
    back = calls.index("rename deployer-proxy_old deployer-proxy")
    assert aside < calls.index("rm -f -v deployer-proxy") < back
    assert "rm -f -v deployer-proxy_old" not in calls[aside:back]  # never removed meanwhile
    assert calls[back + 1] == "start deployer-proxy"
    assert not (host.p / "lock").exists()


def test_an_upgrade_cut_short_finds_the_old_proxy_aside_and_puts_it_back(host: Host) -> None:
    settings = ProxyHost()
    host.set_rules(
        {
            "inspect deployer-proxy": "exit 1",  # gone: renamed aside by a run that died
            "inspect deployer-proxy_old": "exit 0",
            PROXY_INSPECT: f"echo {pxc.settings_hash(settings)} false",
            "inspect --format {{.State.Pid}} deployer-proxy": "echo 0",
        }
    )
    res = host.run(pxc.ensure_script(settings, str(host.state)))
    assert res.returncode == 0, res.stderr
    calls = host.calls()
    assert calls.index("rename deployer-proxy_old deployer-proxy") < calls.index(
        "start deployer-proxy"
    )
    assert not any(c.startswith("create") for c in calls)


def test_a_container_named_deployer_proxy_that_deployer_did_not_make_is_left_alone(
    host: Host,
) -> None:
    """It was removed (`docker rm -f deployer-proxy`) to make room for the proxy."""
    host.set_rules({PROXY_INSPECT: "echo none true"})
    res = host.run(pxc.ensure_script(ProxyHost(), str(host.state)))
    assert res.returncode == 1 and "that deployer did not make" in res.stderr
    assert not any(c.startswith(("rm", "create", "rename", "stop")) for c in host.calls())
    assert not (host.p / "lock").exists()


def test_a_replaced_proxy_goes_with_its_volumes(host: Host) -> None:
    """`docker rm -f` left Caddy's anonymous /config and /data volumes behind at each upgrade."""
    host.set_rules(
        {
            PROXY_INSPECT: "echo 0123456789abcdef true",
            "inspect --format {{.State.Pid}} deployer-proxy": "echo 0",
        }
    )
    res = host.run(pxc.ensure_script(ProxyHost(), str(host.state)))
    assert res.returncode == 0, res.stderr
    removed = [c for c in host.calls() if c.startswith("rm ")]
    assert removed and all(c.startswith("rm -f -v ") for c in removed), removed
    assert "rm -f -v deployer-proxy_old" in removed


# ---------------------------------------------------------------- 2: restore vs a late switch


def test_a_switch_that_runs_after_its_restore_routes_nothing(host: Host) -> None:
    """The controller gave up waiting for a switch (its timeout) and restored: the restore
    saw no route to the new one yet (the switch still waited for the lock), removed the new
    container, and then the switch routed to it: every request a 502."""
    host.add_route("web", ProxySpec(port=8080), OLD)
    back = px.route_back_lines(spec(), NEW, OLD, tls=False, state_dir=str(host.state))
    res = host.run("\n".join(back) + "\n")
    assert res.returncode == 0, res.stderr
    res = host.run(px.switch_script(spec(), NEW, OLD, tls=False, state_dir=str(host.state)))
    assert res.returncode == 1 and px.MARK_SWITCHED not in res.stdout
    assert "nothing routed" in res.stderr
    assert f'"dial":"{OLD[:12]}:8080"' in host.routes()["29998=web.json"]
    assert not any(c.startswith(("stop", "rename")) for c in host.calls())
    assert not (host.p / "lock").exists()


def test_the_route_back_waits_for_the_lock_before_it_looks(host: Host) -> None:
    """It read the route before taking the lock: a switch holding the lock was about to
    write it."""
    (host.p / "lock").mkdir()
    (host.p / "lock" / "pid").write_text(f"{os.getpid()}\n")
    back = px.route_back_lines(spec(), NEW, OLD, tls=False, state_dir=str(host.state))
    script = (
        f"(sleep 0.5; printf '%s\\n' {shlex.quote(px.route_json('web', ProxySpec(8080), NEW))}"
        f" > {shlex.quote(str(host.p / 'routes' / '29998=web.json'))};"
        f" rm -rf {shlex.quote(str(host.p / 'lock'))}) &\n" + "\n".join(back) + "\nwait\n"
    )
    host.set_rules({f"container inspect --format {{{{.Name}}}} {OLD}": "echo /web_prev_x"})
    res = host.run(script)
    assert res.returncode == 0, res.stderr
    assert f'"dial":"{OLD[:12]}:8080"' in host.routes()["29998=web.json"]
    assert f"start {OLD}" in host.calls()


def test_the_lock_wait_is_bounded_by_the_clock_not_by_rounds(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded host makes each `sleep 0.1` round slower: 10 rounds a second were counted,
    so the wait grew with the load."""
    monkeypatch.setattr(px, "LOCK_WAIT_SECONDS", 1)
    (host.p / "lock").mkdir()
    (host.p / "lock" / "pid").write_text(f"{os.getpid()}\n")
    fake_bin(host, "sleep", "exec /bin/sleep 0.5")  # each round takes 5 times longer
    t0 = time.monotonic()
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 1 and "busy" in res.stderr
    assert time.monotonic() - t0 < 3.5  # 10 rounds of 0.5 s were 5 s


# ---------------------------------------------------------------- 3: a reload that hangs


def test_the_config_bounds_how_long_a_reload_waits_for_old_requests(host: Host) -> None:
    """Caddy's grace_period defaults to forever: a reload (and the lock) waited for every
    long request or websocket on the old config."""
    assert assemble(host, tls=False).returncode == 0
    assert host.config()["apps"]["http"]["grace_period"] == "30s"  # type: ignore[index]
    (host.p / "grace").mkdir()
    (host.p / "grace" / "web").write_text("120\n")
    (host.p / "grace" / "api").write_text("5\n")
    assert assemble(host, tls=False).returncode == 0
    assert host.config()["apps"]["http"]["grace_period"] == "120s"  # type: ignore[index]


def test_a_reload_that_hangs_is_cut_and_the_routes_put_back(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(px, "RELOAD_SLACK_SECONDS", 1)
    (host.p / "grace").mkdir()
    (host.p / "grace" / "api").write_text("0\n")
    host.add_route("web", ProxySpec(port=8080), OLD)
    host.set_rules({RELOAD: "exec sleep 30"})
    s = spec(drain=0)
    t0 = time.monotonic()
    res = host.run(px.switch_script(s, NEW, OLD, tls=False, state_dir=str(host.state)), timeout=60)
    assert time.monotonic() - t0 < 15
    assert res.returncode == 1 and "the proxy refused the new route" in res.stderr
    assert f'"dial":"{OLD[:12]}:8080"' in host.routes()["29998=web.json"]
    assert not (host.p / "lock").exists()


def test_a_switch_records_its_drain_and_a_dropped_route_takes_it_along(host: Host) -> None:
    res = host.run(
        px.switch_script(spec(drain=45.5), NEW, None, tls=False, state_dir=str(host.state))
    )
    assert res.returncode == 0, res.stderr
    assert (host.p / "grace" / "web").read_text().strip() == "46"
    assert host.config()["apps"]["http"]["grace_period"] == "46s"  # type: ignore[index]
    res = host.run(px.drop_route_script("web", tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert not (host.p / "grace" / "web").exists()


# ---------------------------------------------------------------- 5: the TLS key's file mode


def test_caddy_json_is_private_from_its_first_byte(host: Host) -> None:
    """caddy.json.new (the TLS key inline) was written with the default umask (0644) and
    made 0600 only afterwards."""
    fake_bin(host, "chmod", "exit 0")  # what the file was created with
    (host.p / "tls" / "cert.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n"
    )
    (host.p / "tls" / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nBB\n-----END PRIVATE KEY-----\n"
    )
    script = "umask 022\n" + f"P={shlex.quote(str(host.p))}\n" + "\n".join(px.assemble_lines(True))
    res = host.run(script + "\n")
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE((host.p / "caddy.json").stat().st_mode) == 0o600


# ---------------------------------------------------------------- 7: a failed drop is said


def test_a_route_that_could_not_be_dropped_is_a_failure(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080), OLD)
    host.fail_file.write_text("Error: admin endpoint gone\n")
    res = host.run(px.drop_route_script("web", tls=False, state_dir=str(host.state)))
    assert res.returncode == 1 and "did not take the config without the route" in res.stderr


# ---------------------------------------------------------------- 4, 10: engine side


def observed(cid: str, spec_public: dict[str, object], live: bool) -> Observed:
    return Observed(
        id=cid,
        name="web" if live else f"web_prev_{cid[:12]}",
        image="web:v1" if not live else "web:v2",
        image_id="i",
        labels={},
        logical="web",
        spec=spec_public,
    )


def test_a_ports_mode_rollback_to_a_version_that_ran_behind_the_proxy_is_refused() -> None:
    """ct.swap brought the proxied version back under the name: it publishes no port, so
    nothing reached it, and the rollback was reported a success."""
    session = RecordingSession()
    engine = SshEngine(HostConn(name="h1", address="h1", state_dir="/s"), session=session)  # type: ignore[arg-type]
    plain = ContainerSpec(name="web", image="web:v2", ports=(PortSpec(8080, host_port=8080),))
    live = observed(NEW, {"image": "web:v2", "ports": ["8080:8080/tcp"]}, True)
    target = observed(OLD, {"image": "web:v1", "proxy": {"port": 8080}}, False)
    result = engine.swap(plain, live, target, Attempt("att1", "/s"))
    assert not result.ok and "behind the proxy" in result.detail
    assert session.scripts == []  # nothing touched


def test_the_drain_watches_the_port_the_old_version_serves_on() -> None:
    """The drain counted connections on the NEW spec's port: an old version on another port
    was stopped at once, its requests in flight cut."""
    session = RecordingSession()
    proxied = Proxied(session, HostConn(name="h1", address="h1", state_dir="/s"))  # type: ignore[arg-type]
    proxied.ready = True
    live = observed(OLD, {"image": "web:v1", "proxy": {"port": 80}}, True)
    proxied.switch(spec(), NEW, live, "ok")
    (script,) = session.scripts
    assert ":0050$/" in script and ":1F90$/" not in script  # 80, not 8080


def test_a_reload_is_bounded_by_the_longer_of_the_old_and_the_new_grace(host: Host) -> None:
    """The bound came from the NEW config's grace: a deploy lowering the longest drain
    (300 s -> 5 s) cut Caddy's reload after 35 s while it still waited (up to 300 s) for
    the OLD config's requests; the new route was live, the restore then removed its
    container: 502s (review 2, finding 1)."""
    (host.p / "grace").mkdir()
    (host.p / "grace" / "web").write_text("300\n")
    host.add_route("web", ProxySpec(port=8080), OLD)
    fake_bin(
        host, "timeout", f'echo "$1" >> {shlex.quote(str(host.root / "bounds"))}; shift; exec "$@"'
    )
    res = host.run(px.switch_script(spec(drain=5), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 0, res.stderr
    assert (host.root / "bounds").read_text().split() == [str(300 + px.RELOAD_SLACK_SECONDS)]


def test_a_failed_reload_hands_the_old_config_back_or_marks_it_unknown(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080), OLD)
    host.fail_file.write_text("Error: timeout\n")
    (host.p / "loaded.json").write_text("{}")
    res = host.run(px.switch_script(spec(), NEW, None, tls=False, state_dir=str(host.state)))
    assert res.returncode == 1
    assert len(host.reloads()) == 2  # the new config, then the old one again
    assert not (host.p / "loaded.json").exists()  # both failed: the next run reloads
