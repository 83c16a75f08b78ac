"""The prepare step over the Engine API (a stream-local channel to the engine's socket on
the run's SSH connection) against the real lab: the same Facts as the CLI path for the
same containers; deploys and no-ops take the API path and say so; a host whose sshd
refuses stream-local forwarding, or with deployer_engine_api: off, takes the CLI path and
the report says why (issue 14)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, replace

import pytest

from deployer.health.facts import HostFacts, parse
from deployer.inventory.conn import host_conn
from deployer.inventory.load import load_inventory
from deployer.model import ContainerSpec, RegistryAuth, RunOptions, Secret, secret_digest
from deployer.targets.ssh import SshEngine
from tests.integration.test_deploy import PLAYBOOKS, cli_env, deploy, deployer, image

pytestmark = pytest.mark.lab

SECRET = "s3cr=t value"
REFUSED = "cli (stream-local forwarding refused by the server)"


@pytest.fixture
def env(tmp_path):  # type: ignore[no-untyped-def]
    return cli_env(tmp_path / "home", {"DEPLOYER_TEST_SECRET": SECRET})


def _prepare(  # type: ignore[no-untyped-def]
    lab,
    name: str,
    mode: str,
    specs: list[ContainerSpec],
    images: list[str],
    registry: RegistryAuth | None = None,
    pull: bool = False,
):
    conn = host_conn(load_inventory([str(lab.inventory)]), name)
    engine = SshEngine(replace(conn, engine_api=mode))
    try:
        res = engine.prepare(images, registry, lock=None, pull=pull, specs=specs, nonce="n0nce")
        return res, engine.engine_path, engine.commands, engine.channels
    finally:
        engine.close()


def test_the_api_and_the_cli_read_the_same_facts(clean_lab, env) -> None:
    lab = clean_lab
    for version in ("v1", "v2"):  # a live container and a retained one, with a secret
        res = deploy(
            lab, env, "secrets.yml", "--limit", "h1", "-e", f"lab_image_v1={image(lab, version)}"
        )
        assert res.code == 0, res
    lab.docker("h1", "create", "--name", "bystander", image(lab, "v1"))  # not deployer's
    # the image's own HEALTHCHECK turns "starting" into "healthy" on its own clock: let it
    # settle first, or the two reads below see two moments (it did once in CI)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = lab.docker(
            "h1", "ps", "-a", "--filter", "label=deployer.managed=true", "--format", "{{.Status}}"
        ).stdout
        if "health: starting" not in states:
            break
        time.sleep(0.5)
    specs = [
        ContainerSpec(
            name="web", image=image(lab, "v2"), secret_env=(("API_TOKEN", Secret("t", "x")),)
        )
    ]
    images = [image(lab, "v2"), image(lab, "v1"), "not.there:5000/none:1"]
    over_cli, path_cli, cmds_cli, chans_cli = _prepare(lab, "h1", "off", specs, images)
    over_api, path_api, cmds_api, chans_api = _prepare(lab, "h1", "auto", specs, images)
    assert (path_cli, path_api) == ("cli (deployer_engine_api: off)", "api")
    assert over_cli.status == over_api.status == "ok", (over_cli, over_api)
    assert over_api.facts is not None and over_cli.facts is not None
    assert asdict(over_api.facts) == asdict(over_cli.facts)
    facts = over_api.facts
    assert sorted(c.name.split("_")[0] for c in facts.containers) == ["web", "web"]
    assert facts.secrets == {"web": {"API_TOKEN": secret_digest("n0nce", SECRET)}}
    assert image(lab, "v1") in facts.images and image(lab, "v2") in facts.images
    assert (cmds_cli, chans_cli, cmds_api, chans_api) == (1, 0, 1, 1)


def _health(lab, name: str, mode: str) -> tuple[HostFacts, str, int, int]:  # type: ignore[no-untyped-def]
    conn = host_conn(load_inventory([str(lab.inventory)]), name)
    engine = SshEngine(replace(conn, engine_api=mode))
    try:
        raw = engine.health_facts(30)
        return parse(raw.out), engine.engine_path, engine.commands, engine.channels
    finally:
        engine.close()


def _lasting(facts: HostFacts) -> dict[str, object]:
    """The facts two reads a moment apart share (not the clock, load, memory, disk use)."""
    d = asdict(facts)
    for key in ("clock", "mem_available_kb", "load", "uptime_s", "listening"):
        d.pop(key)
    d["disks"] = [(x["path"], x["mount"], x["size_kb"]) for x in d["disks"]]
    return d


def test_health_reads_the_same_facts_over_the_api_and_the_cli(clean_lab, env) -> None:
    lab = clean_lab
    assert deploy(lab, env, "web.yml", "--limit", "h1").code == 0
    # not deployer's: published on other numbers, a port exposed only, a range
    lab.docker(
        "h1",
        "run",
        "-d",
        "--name",
        "bystander",
        "-p",
        "9099:80",
        "-p",
        "9100-9101:81-82",
        "--expose",
        "7000",
        image(lab, "v1"),
    )
    lab.docker("h1", "kill", "bystander")  # a stopped one, and a die in the events window
    lab.docker("h1", "start", "bystander")
    lab.docker("h1", "kill", "web")  # a die of deployer's own, counted
    lab.docker("h1", "start", "web")
    deadline = time.monotonic() + 60  # the image's HEALTHCHECK settles first (as above)
    while "health: starting" in lab.docker("h1", "ps", "-a", "--format", "{{.Status}}").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    over_cli, path_cli, cmds_cli, chans_cli = _health(lab, "h1", "off")
    over_api, path_api, cmds_api, chans_api = _health(lab, "h1", "auto")
    assert (path_cli, path_api) == ("cli (deployer_engine_api: off)", "api")
    assert not over_api.errors and not over_cli.errors, (over_api.errors, over_cli.errors)
    lasting_api, lasting_cli = _lasting(over_api), _lasting(over_cli)
    dies_api, dies_cli = lasting_api.pop("recent_dies"), lasting_cli.pop("recent_dies")
    assert lasting_api == lasting_cli
    # The dies (of deployer's containers) are counted over the 10 min before each read. The
    # API read comes second, so the die of an earlier test's container can drop off the
    # start of its window (CI saw it): the API counts no die the CLI did not, and no more.
    web = over_api.live("web")
    assert web is not None
    web_id = web.id
    assert dies_api[web_id] == dies_cli[web_id] == 1  # the kill above
    assert all(n <= dies_cli.get(i, 0) for i, n in dies_api.items()), (dies_api, dies_cli)
    by = {o.name: o for o in over_api.others}
    assert by["bystander"].host_ports == {9099, 9100, 9101}
    assert over_api.live("web") is not None and over_api.engine_version
    assert len(over_api.disks) == 2  # / and the engine's data root, as the CLI's df
    # the host's own sections + the engine's address, then df: the rest over one channel
    assert (cmds_cli, chans_cli, cmds_api, chans_api) == (1, 0, 2, 1)


def test_login_and_pull_failures_keep_their_status_on_both_paths(clean_lab) -> None:
    lab = clean_lab
    tls = lab.layout.image("v1", lab.layout.registry_tls)
    password = (lab.dir / "registry-password").read_text().strip()
    wrong = RegistryAuth(lab.layout.registry_tls, "deployer", Secret("t", "not-" + password))
    right = RegistryAuth(lab.layout.registry_tls, "deployer", Secret("t", password))
    missing = f"{lab.layout.registry}/demo/web:no-such-tag"
    never = ContainerSpec(name="web", image=missing, options=RunOptions(pull="never"))
    cases = [
        ([tls], wrong, [], "login", "401 Unauthorized"),
        ([tls, missing], right, [], "pull", missing),
        ([missing], None, [never], "pull", f"{missing}: not on this host, and pull: never"),
    ]
    for images, registry, specs, status, said in cases:
        got = {}
        for mode in ("off", "auto"):
            res, path, _, _ = _prepare(lab, "h1", mode, specs, images, registry, pull=True)
            assert path == ("api" if mode == "auto" else "cli (deployer_engine_api: off)")
            assert res.status == status and said in res.message, (mode, res)
            assert password not in res.message
            got[mode] = (res.status, res.message)
        assert got["auto"] == got["off"]  # the CLI's words, over the API too
    # the right credentials pull the private image over the API
    lab.docker("h1", "rmi", "-f", tls)
    res, path, _, _ = _prepare(lab, "h1", "auto", [], [tls], right, pull=True)
    assert (res.status, path) == ("ok", "api") and res.facts is not None, res
    assert tls in res.facts.images


def test_a_deploy_and_a_noop_take_the_api_path(clean_lab, env) -> None:
    lab = clean_lab
    first = deploy(lab, env, "web.yml", "-o", "json")
    assert first.code == 0, first
    again = deploy(lab, env, "web.yml", "-o", "json")
    assert again.code == 0, again
    for runs in (first.hosts(), again.hosts()):
        assert {h: v["engine"] for h, v in runs.items()} == dict.fromkeys(lab.web_hosts(), "api")
    for v in again.hosts().values():
        assert v["status"] == "ok" and v["containers"][0]["action"] == "noop"
        # the lock + the engine's address, then the release: the requests ride one channel
        assert (v["commands"], v["channels"]) == (2, 1), v
    assert "engine: cli" not in again.stderr


def test_the_gate_watches_over_the_api_and_says_what_the_shell_watcher_says(clean_lab, env) -> None:
    """The health gate's watch: the container's die events over the Engine API (no
    `docker wait` on the host) where the prepare step took the API; the same words as the
    shell watcher's for a version that crashes before it answers."""
    lab = clean_lab
    first = deploy(lab, env, "web.yml", "--limit", "h1,h2", "-o", "json")
    assert first.code == 0, first
    for v in first.hosts().values():  # lock + address, replace, confirm, finalize
        assert (v["engine"], v["commands"], v["channels"]) == ("api", 4, 3), v
    said = {}
    for host, mode in (("h1", "auto"), ("h2", "off")):
        crash = deploy(
            lab,
            env,
            "web.yml",
            "--limit",
            host,
            "-e",
            f"image={image(lab, 'crash')}",
            "-e",
            f"deployer_engine_api={mode}",
            "-o",
            "json",
        )
        assert crash.code == 3, crash
        h = crash.hosts()[host]
        assert h["status"] == "failed" and "rolled back" in h["reason"], h
        said[mode] = h["containers"][0]
    for c in said.values():
        assert "container exited (code 1) before turning healthy" in json.dumps(c), c


def test_off_takes_the_cli_path_and_says_so(clean_lab, env) -> None:
    lab = clean_lab
    assert deploy(lab, env, "web.yml", "--limit", "h1").code == 0
    res = deploy(
        lab, env, "web.yml", "--limit", "h1", "-e", "deployer_engine_api=off", "-o", "json"
    )
    assert res.code == 0, res
    h1 = res.hosts()["h1"]
    assert (h1["engine"], h1["commands"], h1["channels"]) == (
        "cli (deployer_engine_api: off)",
        2,
        0,
    )
    assert "engine: cli" not in res.stderr  # chosen, not a fallback: no progress line


@pytest.fixture
def refusing_h2(lab) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """h2's sshd with AllowStreamLocalForwarding no (first in its config: sshd takes the
    first value), restored afterwards."""
    cfg = lab.host("h2").data_dir / "sshd_config"
    before = cfg.read_text()
    lab.stop_sshd("h2")
    cfg.write_text("AllowStreamLocalForwarding no\n" + before)
    lab.start_sshd("h2")
    try:
        yield "h2"
    finally:
        lab.stop_sshd("h2")
        cfg.write_text(before)
        lab.start_sshd("h2")


def test_a_host_that_refuses_the_channel_falls_back_to_the_cli(clean_lab, env, refusing_h2) -> None:
    lab = clean_lab
    res = deploy(lab, env, "web.yml", "-o", "json")
    assert res.code == 0, res
    engines = {h: v["engine"] for h, v in res.hosts().items()}
    assert engines == {"h1": "api", "h2": REFUSED, "h3": "api"}
    assert f"h2 engine: {REFUSED}" in res.stderr  # the plain progress line
    assert "h1 engine:" not in res.stderr
    again = deploy(lab, env, "web.yml", "-o", "json")
    assert again.code == 0, again
    h2 = again.hosts()["h2"]
    assert h2["status"] == "ok" and h2["engine"] == REFUSED
    # the first command, the CLI's prepare script once the channel was refused, the release
    assert (h2["commands"], h2["channels"]) == (3, 0), h2
    # health too: the host's sections, then the CLI's docker sections (a second command)
    facts, path, cmds, chans = _health(lab, "h2", "auto")
    assert (path, cmds, chans) == (REFUSED, 2, 0)
    assert facts.live("web") is not None and facts.engine_version and not facts.errors
    report = deployer(
        env, "health", str(PLAYBOOKS / "web.yml"), "-i", str(lab.inventory), "-o", "json"
    )
    assert report.code in (0, 3), report
    h2_health = next(h for h in json.loads(report.stdout)["hosts"] if h["name"] == "h2")
    assert h2_health["reachable"] and h2_health["containers"][0]["state"] == "running"
    engines = {h["name"]: h["engine"] for h in json.loads(report.stdout)["hosts"]}
    assert engines == {"h1": "api", "h2": REFUSED, "h3": "api"}  # the report says which
