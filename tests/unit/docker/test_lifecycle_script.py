"""docker/lifecycle.py's removal script, run on a real local `sh` (test_proxy_scripts' Host:
a tmp state dir and a fake `docker` that logs its calls), and the SSH engine's `remove`.

The order is the point: a proxied container's route goes first (the proxy never routes to a
removed container), then the audit record, then the containers; a step that fails stops the
ones after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_proxy_scripts import NEW, OLD, OTHER, RELOAD, Host

from deployer.docker import lifecycle as lc
from deployer.docker import proxy as px
from deployer.model import HostConn, Observed, ProxySpec
from deployer.remote.ssh import Result
from deployer.targets.ssh import SshEngine

RECORD = json.dumps({"action": "remove", "container": "web", "detail": "it's $(gone) `now`"})


def script(
    h: Host, *, proxied: bool, ids: tuple[str, ...] = (NEW, OLD), live: str | None = NEW
) -> str:
    return lc.remove_script(
        "web",
        ids,
        live_id=live,
        stop_timeout=7,
        audit_lines=[RECORD],
        state_dir=str(h.state),
        proxied=proxied,
    )


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def audit(h: Host) -> list[str]:
    log = h.state / "audit.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_proxied_container_loses_its_route_then_is_audited_then_removed(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080), NEW)
    host.add_route("api", ProxySpec(port=9000, path="/api"), OTHER)
    res = host.run(script(host, proxied=True))
    assert res.returncode == 0, res.stderr
    assert list(host.routes()) == [px.route_file("api", ProxySpec(port=9000, path="/api"))]
    assert host.calls() == [RELOAD, f"stop -t 7 {NEW}", f"rm -f {NEW}", f"rm -f {OLD}"]
    assert audit(host) == [RECORD]  # quotes, $( ) and backquotes stay data
    (config,) = host.reloads()
    assert NEW not in config  # the proxy took a configuration without it


def test_a_route_that_cannot_go_removes_nothing_and_records_nothing(host: Host) -> None:
    host.add_route("web", ProxySpec(port=8080), NEW)
    host.fail_file.write_text("caddy: bad config")
    res = host.run(script(host, proxied=True))
    assert res.returncode == lc.EXIT_ROUTE
    assert "the proxy still routes to web: nothing of it was removed" in res.stderr
    assert host.calls() == [RELOAD] and audit(host) == []


def test_without_an_audit_record_nothing_is_removed(host: Host) -> None:
    (host.state / "audit.log").mkdir()  # cannot be appended to
    res = host.run(script(host, proxied=False))
    assert res.returncode == lc.EXIT_AUDIT, res.stderr
    assert "nothing was removed" in res.stderr and host.calls() == []


def test_a_container_already_gone_is_no_failure_one_that_stays_is(host: Host) -> None:
    host.set_rules({f"rm -f {OLD}": "exit 1", f"container inspect {OLD}": "exit 1"})
    res = host.run(script(host, proxied=False))
    assert res.returncode == 0, res.stderr  # OLD was gone already
    host.set_rules({f"container inspect {OLD}": "exit 0"})
    res = host.run(script(host, proxied=False))
    assert res.returncode == 1 and f"could not remove {OLD}" in res.stderr
    assert f"rm -f {NEW}" in host.calls()  # the others went anyway


def test_a_container_without_a_route_touches_no_proxy(host: Host) -> None:
    res = host.run(script(host, proxied=False, live=None, ids=(OLD,)))
    assert res.returncode == 0, res.stderr
    assert host.calls() == [f"rm -f {OLD}"]  # retained only: nothing to stop, no reload


class Session:
    def __init__(self, code: int = 0, err: str = "") -> None:
        self.code, self.err = code, err
        self.scripts: list[str] = []

    def run(self, script: str, *, stdin: str = "", timeout: float = 300.0) -> Result:
        self.scripts.append(script)
        return Result("h1", script, self.code, "", self.err, 0)


def box(cid: str, name: str, spec: dict[str, object]) -> Observed:
    return Observed(
        id=cid, name=name, image="web:v1", image_id="i1", labels={}, logical="web", spec=spec
    )


def remove_with(session: Session, recorded: dict[str, object]) -> tuple[bool, str, bool]:
    from deployer.model import ContainerSpec

    engine = SshEngine(HostConn(name="h1", address="h1", state_dir="/s"), session=session)  # type: ignore[arg-type]
    done = engine.remove(
        ContainerSpec("web", "", stop_timeout=4, state="absent"),
        [box(NEW, "web", recorded), box(OLD, f"web_prev_{OLD[:12]}", {})],
        [RECORD],
    )
    return done.ok, done.detail, done.audited


def test_the_ssh_engine_drops_a_route_only_for_a_container_that_had_one() -> None:
    proxied, plain = Session(), Session()
    assert remove_with(proxied, {"proxy": {"port": 80}})[0]
    assert remove_with(plain, {"ports": ["8080:80/tcp"]})[0]
    assert RELOAD.split(" --address")[0] in proxied.scripts[0].replace("'", "")
    assert "caddy" not in plain.scripts[0] and f"docker stop -t 4 {NEW}" in plain.scripts[0]


def test_the_ssh_engine_says_whether_the_record_was_written() -> None:
    assert remove_with(Session(lc.EXIT_ROUTE, "the proxy still routes"), {}) == (
        False,
        "the proxy still routes",
        False,
    )
    assert remove_with(Session(lc.EXIT_AUDIT, "no space"), {})[2] is False
    assert remove_with(Session(1, "could not remove x"), {}) == (False, "could not remove x", True)
