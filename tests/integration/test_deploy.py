"""`deployer deploy / rollback / lock / audit` against the real lab (issue 4).

Each test drives the real CLI in a subprocess with a small playbook from
tests/integration/playbooks/ and checks the hosts' engines and pages directly.
The CLI runs with its own HOME and XDG_STATE_HOME, so the controller's
~/.ssh/known_hosts and run record play no part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
WEB = ["h1", "h2", "h3"]


# ---------------------------------------------------------------- helpers


@dataclass(repr=False)
class Run:
    argv: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except ValueError as err:
            raise AssertionError(f"not JSON ({err}): {self}") from err

    def hosts(self) -> dict[str, dict[str, Any]]:
        return {h["name"]: h for h in self.json()["hosts"]}

    def __repr__(self) -> str:
        return (
            f"$ {' '.join(self.argv[2:])}\nexit {self.code}\n--- stdout\n{self.stdout[-4000:]}"
            f"\n--- stderr\n{self.stderr[-4000:]}"
        )


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_AUTH_SOCK", "DOCKER_"))}
    env.update(
        {
            "HOME": str(home),
            "XDG_STATE_HOME": str(home / "state"),
            "PYTHONPATH": str(REPO),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    env.update(extra or {})
    return env


def deployer(env: dict[str, str], *args: str, timeout: float = 120) -> Run:
    argv = [sys.executable, "-m", "deployer", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    return Run(argv, proc.returncode, proc.stdout, proc.stderr)


def start_deployer(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deployer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def deploy(
    lab, env: dict[str, str], playbook: str, *args: str, inventory: Path | None = None
) -> Run:
    return deployer(
        env, "deploy", str(PLAYBOOKS / playbook), "-i", str(inventory or lab.inventory), *args
    )


def image(lab, kind: str) -> str:
    return lab.layout.image(kind)


def container_id(lab, host: str, name: str = "web") -> str | None:
    proc = lab.docker(host, "inspect", "--format", "{{.Id}}", name)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ids(lab, hosts: list[str]) -> dict[str, str | None]:
    return {h: container_id(lab, h) for h in hosts}


def inspect(lab, host: str, name: str = "web") -> dict[str, Any]:
    proc = lab.docker(host, "inspect", name)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]


def has_image(lab, host: str, ref: str) -> bool:
    return lab.docker(host, "image", "inspect", ref).returncode == 0


def page(lab, host: str, port: int = 8080) -> str:
    addr = lab.host(host).address
    proc = subprocess.run(
        ["curl", "-sS", "--max-time", "3", f"http://{addr}:{port}/"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return proc.stdout if proc.returncode == 0 else f"(curl failed: {proc.stderr.strip()})"


def serves(lab, host: str, version: str, port: int = 8080) -> bool:
    return f"deployer demo {version}" in page(lab, host, port)


def host_fs(lab, host: str, which: str) -> Path:
    """A lab host's private folder as the controller sees it: which = 'tmp' or 'var_lib_deployer'."""
    return lab.dir / "hosts" / host / "fs" / which


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "home")


# ---------------------------------------------------------------- first deploy, no-op, rollout, rollback


def test_first_deploy_noop_rollout_audit_and_rollback(clean_lab, env):
    lab = clean_lab
    first = deploy(lab, env, "web.yml", "-o", "json")
    assert first.code == 0, first
    assert {h: v["status"] for h, v in first.hosts().items()} == {h: "changed" for h in WEB}
    for h in WEB:
        assert serves(lab, h, "v1"), page(lab, h)
        assert first.hosts()[h]["containers"][0]["action"] == "create"
    v1_ids = ids(lab, WEB)
    assert all(v1_ids.values())

    again = deploy(lab, env, "web.yml", "-o", "json")
    assert again.code == 0, again
    for h, v in again.hosts().items():
        assert v["status"] == "ok", again
        assert v["containers"][0]["action"] == "noop"
        assert v["commands"] <= 2, f"{h} ran {v['commands']} commands on a no-op run"
    assert again.json()["summary"]["ok"] == 3
    assert ids(lab, WEB) == v1_ids

    v2 = deploy(lab, env, "web.yml", "-e", f"image={image(lab, 'v2')}", "-o", "json")
    assert v2.code == 0, v2
    for v in v2.hosts().values():
        assert v["status"] == "changed"
        c = v["containers"][0]
        assert c["action"] == "replace" and c["health"] == "passed", c
        assert c["old_image"] == image(lab, "v1") and c["new_image"] == image(lab, "v2")
        assert any(line.startswith("image:") for line in c["changes"]), c["changes"]
    for h in WEB:
        assert serves(lab, h, "v2"), page(lab, h)
    v2_ids = ids(lab, WEB)
    assert all(v2_ids[h] != v1_ids[h] for h in WEB)
    # the old version is retained (stopped) for rollback
    for h in WEB:
        names = lab.docker(h, "ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert any(n.startswith("web_prev_") for n in names), names

    audit = deployer(env, "audit", "-i", str(lab.inventory), "--limit", "web", "-o", "json")
    assert audit.code == 0, audit
    entries = audit.json()
    assert {e["host"] for e in entries} == set(WEB)
    rollout = [e for e in entries if e["new_image"] == image(lab, "v2")]
    assert len(rollout) == 3
    for e in rollout:
        assert e["old_image"] == image(lab, "v1") and e["outcome"] == "ok"
        assert e["who"] and "@" in e["who"] and e["time"] and e["container"] == "web"
        assert e["action"] == "replace"
    creates = [e for e in entries if e["action"] == "create"]
    assert len(creates) == 3 and all(e["old_image"] is None for e in creates)
    audit_text = deployer(env, "audit", "-i", str(lab.inventory), "--limit", "web")
    assert audit_text.code == 0, audit_text
    assert f"{image(lab, 'v1')} -> {image(lab, 'v2')} [ok] by" in audit_text.stdout, audit_text

    back = deployer(
        env,
        "rollback",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "-e",
        f"image={image(lab, 'v2')}",
        "-o",
        "json",
    )
    assert back.code == 0, back
    for v in back.hosts().values():
        assert v["status"] == "changed", back
        assert v["containers"][0]["action"] == "rollback"
    for h in WEB:
        assert serves(lab, h, "v1"), page(lab, h)
        assert container_id(lab, h) == v1_ids[h], "rollback brings back the retained container"

    # --to a version that is not retained: every host fails, nothing changes.
    before = ids(lab, WEB)
    missing = deployer(
        env,
        "rollback",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--to",
        "no-such-tag",
        "-o",
        "json",
    )
    assert missing.code == 3, missing
    for v in missing.hosts().values():
        assert (
            v["status"] == "failed" and "no retained version matching 'no-such-tag'" in v["reason"]
        )
    assert ids(lab, WEB) == before
    for h in WEB:
        assert (
            lab.sh(h, "test -e /var/lib/deployer/lock && echo held || echo free").stdout.strip()
            == "free"
        )


# ---------------------------------------------------------------- changes that replace


def test_changed_port_or_env_replaces(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    before = container_id(lab, "h1")

    moved = deploy(lab, env, "web.yml", "--limit", "h1", "-e", "port=8081", "-o", "json")
    assert moved.code == 0, moved
    c = moved.hosts()["h1"]["containers"][0]
    assert moved.hosts()["h1"]["status"] == "changed"
    assert c["action"] == "replace" and any(line.startswith("ports:") for line in c["changes"]), c
    after_port = container_id(lab, "h1")
    assert after_port != before
    assert serves(lab, "h1", "v1", port=8081)
    assert "curl failed" in page(lab, "h1", 8080)

    env_change = deploy(
        lab, env, "web.yml", "--limit", "h1", "-e", "port=8081", "-e", "greeting=bye", "-o", "json"
    )
    assert env_change.code == 0, env_change
    c = env_change.hosts()["h1"]["containers"][0]
    assert c["action"] == "replace" and "env: GREETING changed" in c["changes"], c
    assert container_id(lab, "h1") != after_port
    assert "GREETING=bye" in inspect(lab, "h1")["Config"]["Env"]


# ---------------------------------------------------------------- failures roll back


def test_never_healthy_rolls_back_while_an_overlapping_deploy_is_refused(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    old = container_id(lab, "h1")
    lock_dir = host_fs(lab, "h1", "var_lib_deployer") / "lock"

    slow = start_deployer(
        env,
        "deploy",
        str(PLAYBOOKS / "web.yml"),
        "-i",
        str(lab.inventory),
        "--limit",
        "h1",
        "-e",
        f"image={image(lab, 'unhealthy')}",
        "-o",
        "json",
    )
    try:
        deadline = time.monotonic() + 30
        while not (lock_dir / "info").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (lock_dir / "info").exists(), "the first run never took the lock"
        holder = json.loads((lock_dir / "info").read_text())
        second = deploy(lab, env, "web.yml", "--limit", "h1")
        assert second.code == 6, second
        assert "locked" in second.stderr and holder["who"] in second.stderr, second
        assert str(holder["pid"]) in second.stderr
        assert str(slow.pid) == str(holder["pid"])
        out, err = slow.communicate(timeout=90)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    first = Run(slow.args, slow.returncode, out, err)
    assert first.code == 3, first
    h1 = first.hosts()["h1"]
    assert h1["status"] == "failed"
    assert "rolled back" in h1["reason"], h1["reason"]
    assert h1["containers"][0]["rolled_back"] is True
    assert container_id(lab, "h1") == old
    assert serves(lab, "h1", "v1"), page(lab, "h1")
    assert not lock_dir.exists(), "the lock is released after a failed run"
    names = lab.docker("h1", "ps", "-a", "--format", "{{.Names}} {{.Image}}").stdout
    assert image(lab, "unhealthy") not in names, names


def test_crash_image_rolls_back_with_its_logs(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    old = container_id(lab, "h1")
    crash = deploy(
        lab, env, "web.yml", "--limit", "h1", "-e", f"image={image(lab, 'crash')}", "-o", "json"
    )
    assert crash.code == 3, crash
    h1 = crash.hosts()["h1"]
    assert h1["status"] == "failed" and "rolled back" in h1["reason"], h1
    c = h1["containers"][0]
    assert any("fatal: DATABASE_URL is not set" in line for line in c["logs"]), c
    assert container_id(lab, "h1") == old
    assert serves(lab, "h1", "v1"), page(lab, "h1")


def test_missing_tag_changes_nothing(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1,h2")).code == 0, r
    before = ids(lab, ["h1", "h2"])
    missing = f"{lab.layout.registry}/demo/web:no-such-tag"
    res = deploy(lab, env, "web.yml", "--limit", "h1,h2", "-e", f"image={missing}", "-o", "json")
    assert res.code == 3, res
    for h in ("h1", "h2"):
        v = res.hosts()[h]
        assert v["status"] == "failed" and "pull failed" in v["reason"], v
        assert serves(lab, h, "v1")
    assert ids(lab, ["h1", "h2"]) == before
    assert not (host_fs(lab, "h1", "var_lib_deployer") / "lock").exists()


# ---------------------------------------------------------------- registry, bastion


def test_private_registry_with_login_leaves_no_credentials(clean_lab, env):
    lab = clean_lab
    tls_image = lab.layout.image("v1", lab.layout.registry_tls)
    for h in WEB:
        lab.docker(h, "rmi", "-f", tls_image)
    docker_config = Path("/root/.docker/config.json")
    res = deploy(lab, env, "private_registry.yml", "-o", "json")
    assert res.code == 0, res
    password = Path(lab.dir / "registry-password").read_text().strip()
    assert password not in res.out
    for h in WEB:
        assert res.hosts()[h]["status"] == "changed"
        assert serves(lab, h, "v1"), page(lab, h)
        assert inspect(lab, h)["Config"]["Image"] == tls_image
        left = files_under(host_fs(lab, h, "tmp"))
        assert not left, f"{h} keeps files in its /tmp: {left}"
        for f in files_under(host_fs(lab, h, "var_lib_deployer")):
            assert password not in f.read_text(errors="replace"), f
    if docker_config.exists():
        auths = json.loads(docker_config.read_text() or "{}").get("auths", {})
        assert lab.layout.registry_tls not in auths, auths
        assert not any(lab.layout.registry_tls in k for k in auths), auths


def test_private_host_through_the_bastion(clean_lab, env):
    lab = clean_lab
    res = deploy(lab, env, "web.yml", "-e", "target=private", "-o", "json")
    assert res.code == 0, res
    assert list(res.hosts()) == ["p1"]
    assert res.hosts()["p1"]["status"] == "changed"
    assert res.hosts()["p1"]["connections"] == 2  # the bastion, then p1 through it
    body = lab.sh("p1", "curl -sS --max-time 3 http://127.0.0.1:8080/").stdout
    assert "deployer demo v1" in body
    assert container_id(lab, "p1")
    assert all(container_id(lab, h) is None for h in WEB)


# ---------------------------------------------------------------- check mode


def test_check_changes_nothing_and_pulls_nothing(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    before = inspect(lab, "h1")
    v2 = image(lab, "v2")
    lab.docker("h1", "rmi", "-f", v2)
    assert not has_image(lab, "h1", v2)
    res = deploy(lab, env, "web.yml", "--limit", "h1", "--check", "-e", f"image={v2}", "-o", "json")
    assert res.code == 0, res
    assert res.json()["check"] is True
    c = res.hosts()["h1"]["containers"][0]
    assert c["action"] == "replace" and c["new_image"] == v2, c
    after = inspect(lab, "h1")
    assert after["Id"] == before["Id"] and after["Image"] == before["Image"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert not has_image(lab, "h1", v2), "--check pulled the image"
    assert serves(lab, "h1", "v1")
    assert not (host_fs(lab, "h1", "var_lib_deployer") / "lock").exists()
    audit_log = host_fs(lab, "h1", "var_lib_deployer") / "audit.log"
    assert v2 not in (audit_log.read_text() if audit_log.exists() else "")


# ---------------------------------------------------------------- locks


def test_lock_held_refuses_then_status_and_release(clean_lab, env):
    lab = clean_lab
    state = "/var/lib/deployer"
    info = json.dumps(
        {
            "who": "alice@elsewhere",
            "pid": 4242,
            "since": "2024-01-01T00:00:00+00:00",
            "playbook": "other.yml",
            "play": "other",
        }
    )
    lab.sh("h1", f"mkdir -p {state}/lock && printf '%s\\n' '{info}' > {state}/lock/info")
    res = deploy(lab, env, "web.yml", "--limit", "h1,h2")
    assert res.code == 6, res
    assert "alice@elsewhere" in res.stderr and "h1" in res.stderr, res
    assert all(container_id(lab, h) is None for h in WEB), "a refused run changes nothing"
    assert not (host_fs(lab, "h2", "var_lib_deployer") / "lock").exists(), "h2's lock left behind"

    status = deployer(env, "lock", "status", "-i", str(lab.inventory), "--limit", "web")
    assert status.code == 0, status
    lines = dict(line.split(": ", 1) for line in status.stdout.strip().splitlines())
    assert lines["h1"].startswith("LOCKED") and "alice@elsewhere" in lines["h1"], status
    assert lines["h2"] == "free" and lines["h3"] == "free", status

    # a fresh lock may be a live run's: refused; one whose holder shows no life: released
    rel = deployer(env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1")
    assert rel.code == 6 and "h1: REFUSED" in rel.stdout, rel
    lab.sh("h1", f"touch -d '10 minutes ago' {state}/lock/info")
    rel = deployer(env, "lock", "release", "-i", str(lab.inventory), "--limit", "h1")
    assert rel.code == 0 and "h1: released" in rel.stdout, rel
    status = deployer(env, "lock", "status", "-i", str(lab.inventory), "--limit", "web")
    assert "LOCKED" not in status.stdout, status

    ok = deploy(lab, env, "web.yml", "--limit", "h1,h2")  # text output this time
    assert ok.code == 0, ok
    assert "h1" in ok.out and "h2" in ok.out
    assert serves(lab, "h1", "v1") and serves(lab, "h2", "v1")


# ---------------------------------------------------------------- a host down stops a serial rollout


def test_unreachable_host_stops_a_serial_rollout(clean_lab, env):
    lab = clean_lab
    lab.stop_sshd("h1")
    try:
        res = deploy(lab, env, "serial.yml", "-o", "json")
        assert res.code == 4, res
        hosts = res.hosts()
        assert hosts["h1"]["status"] == "unreachable", hosts["h1"]
        for h in ("h2", "h3"):
            assert hosts[h]["status"] == "skipped", hosts[h]
            assert "rollout stopped" in hosts[h]["reason"]
            assert container_id(lab, h) is None
            assert not (host_fs(lab, h, "var_lib_deployer") / "lock").exists(), f"{h} lock left"
    finally:
        lab.start_sshd("h1")
    assert lab.sh("h1", "echo back").stdout.strip() == "back"
