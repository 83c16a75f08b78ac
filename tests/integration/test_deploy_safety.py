"""Safety of `deployer deploy` against the real lab: host keys, secrets, hostile values."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from test_deploy import (
    PLAYBOOKS,
    WEB,
    Run,
    cli_env,
    container_id,
    deploy,
    deployer,
    files_under,
    host_fs,
    ids,
    inspect,
    serves,
    start_deployer,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "home")


def inventory_with_known_hosts(lab, tmp_path: Path, lines: list[str]) -> tuple[Path, Path]:
    """A copy of the lab inventory whose known_hosts file holds just `lines`."""
    known = tmp_path / "known_hosts"
    known.write_text("".join(line + "\n" for line in lines))
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    doc["all"]["vars"]["deployer_known_hosts"] = str(known)
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv, known


def lab_known_hosts(lab) -> dict[str, str]:
    """address -> its known_hosts line, from the lab's own file."""
    return {
        line.split()[0]: line
        for line in (lab.dir / "known_hosts").read_text().splitlines()
        if line.strip()
    }


# ---------------------------------------------------------------- host keys


def test_unknown_host_key_refused_then_accepted_and_recorded(clean_lab, env, tmp_path):
    lab = clean_lab
    h1 = lab.host("h1").address
    lines = [line for addr, line in lab_known_hosts(lab).items() if addr != h1]
    inv, known = inventory_with_known_hosts(lab, tmp_path, lines)

    refused = deploy(lab, env, "web.yml", "--limit", "h1", inventory=inv)
    assert refused.code == 4, refused
    assert "unknown host key" in refused.out, refused
    assert "ssh-keyscan" in refused.out and str(known) in refused.out, refused
    assert "--accept-new-host-keys" in refused.out, refused
    assert container_id(lab, "h1") is None
    assert h1 not in known.read_text()

    accepted = deploy(lab, env, "web.yml", "--limit", "h1", "--accept-new-host-keys", inventory=inv)
    assert accepted.code == 0, accepted
    assert serves(lab, "h1", "v1")
    recorded = [line for line in known.read_text().splitlines() if line.split()[0] == h1]
    assert len(recorded) == 1
    assert recorded[0].split()[1:] == lab_known_hosts(lab)[h1].split()[1:]

    # now known: a plain run works without the flag, and records nothing more
    again = deploy(lab, env, "web.yml", "--limit", "h1", inventory=inv)
    assert again.code == 0, again
    assert len([ln for ln in known.read_text().splitlines() if ln.split()[0] == h1]) == 1


def test_changed_host_key_is_refused_even_with_accept_new(clean_lab, env, tmp_path):
    lab = clean_lab
    keys = lab_known_hosts(lab)
    h1, h2 = lab.host("h1").address, lab.host("h2").address
    forged = f"{h1} " + " ".join(keys[h2].split()[1:])  # h2's key claimed for h1
    lines = [forged if addr == h1 else line for addr, line in keys.items()]
    inv, known = inventory_with_known_hosts(lab, tmp_path, lines)
    for flags in ([], ["--accept-new-host-keys"]):
        res = deploy(lab, env, "web.yml", "--limit", "h1", *flags, inventory=inv)
        assert res.code == 4, res
        assert "HOST KEY CHANGED" in res.out, res
        assert container_id(lab, "h1") is None
    assert known.read_text().splitlines() == lines, "known_hosts must not be rewritten"


# ---------------------------------------------------------------- secrets


class PsSampler:
    """`ps -eo args` on the controller (it sees every lab host's processes), over and over."""

    def __init__(self) -> None:
        self.samples: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            self.samples.append(out)
            time.sleep(0.01)

    def __enter__(self) -> PsSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def run_sampled(env: dict[str, str], sampler: PsSampler, *args: str) -> Run:
    proc = start_deployer(env, *args)
    out, err = proc.communicate(timeout=120)
    return Run(list(proc.args), proc.returncode, out, err)


def test_secret_reaches_the_container_and_nothing_else(clean_lab, tmp_path):
    lab = clean_lab
    secret = f"Sekr1t-{uuid.uuid4().hex}"
    env = cli_env(tmp_path / "home", {"DEPLOYER_TEST_SECRET": secret})
    inv = str(lab.inventory)
    playbook = str(PLAYBOOKS / "secrets.yml")
    with PsSampler() as sampler:
        first = run_sampled(env, sampler, "deploy", playbook, "-i", inv, "-o", "json")
        forced = run_sampled(
            env, sampler, "deploy", playbook, "-i", inv, "--limit", "h1", "--force", "--diff"
        )
        checked = run_sampled(
            env, sampler, "deploy", playbook, "-i", inv, "--limit", "h1", "--check", "--diff"
        )
    assert first.code == 0, first
    assert forced.code == 0, forced
    assert checked.code == 0, checked
    assert len(sampler.samples) > 20, "ps was sampled too rarely to mean anything"
    assert sum("docker" in s for s in sampler.samples) > 0, "no remote docker command was ever seen"

    leaks: list[str] = []
    for i, sample in enumerate(sampler.samples):
        if secret in sample:
            leaks.append(
                f"ps sample {i}: " + next(ln for ln in sample.splitlines() if secret in ln)
            )
    for name, run in (("first", first), ("forced", forced), ("checked", checked)):
        if secret in run.stdout or secret in run.stderr:
            leaks.append(f"CLI output of the {name} run")
    audit = deployer(env, "audit", "-i", inv, "-o", "json")
    assert audit.code == 0 and json.loads(audit.stdout), audit
    if secret in audit.stdout:
        leaks.append("audit -o json")
    for h in WEB:
        for folder in ("tmp", "var_lib_deployer"):
            for f in files_under(host_fs(lab, h, folder)):
                if secret in f.read_text(errors="replace"):
                    leaks.append(f"{h}:{folder}/{f.name}")
    runs = tmp_path / "home" / "state" / "deployer" / "runs.jsonl"
    assert runs.exists(), "the run record was not written"
    if secret in runs.read_text():
        leaks.append(str(runs))
    assert not leaks, "secret leaked into: " + "; ".join(leaks)

    for h in WEB:
        info = inspect(lab, h)
        labels = json.dumps(info["Config"]["Labels"])
        assert secret not in labels, f"{h}: secret in the container labels"
        inside = lab.docker(h, "exec", "web", "env").stdout.splitlines()
        assert f"API_TOKEN={secret}" in inside, inside
        assert "PLAIN=visible" in inside
        assert serves(lab, h, "v1")


def test_changed_secret_value_replaces_without_showing_it(clean_lab, tmp_path):
    lab = clean_lab
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    playbook = str(PLAYBOOKS / "secrets.yml")
    inv = str(lab.inventory)
    first = deployer(
        cli_env(tmp_path / "home", {"DEPLOYER_TEST_SECRET": old}),
        "deploy",
        playbook,
        "-i",
        inv,
        "--limit",
        "h1",
    )
    assert first.code == 0, first
    res = deployer(
        cli_env(tmp_path / "home", {"DEPLOYER_TEST_SECRET": new}),
        "deploy",
        playbook,
        "-i",
        inv,
        "--limit",
        "h1",
        "--diff",
        "-o",
        "json",
    )
    assert res.code == 0, res
    c = res.hosts()["h1"]["containers"][0]
    assert c["action"] == "replace", c
    assert old not in res.out and new not in res.out
    assert f"API_TOKEN={new}" in lab.docker("h1", "exec", "web", "env").stdout


# ---------------------------------------------------------------- hostile values


def pwned_markers(lab) -> list[Path]:
    hosts = [host_fs(lab, h, "tmp") / "pwned" for h in WEB]
    return [Path("/tmp/pwned"), Path("/root/pwned"), *hosts]


def test_hostile_values_reach_docker_byte_exact(clean_lab, env, tmp_path):
    lab = clean_lab
    for marker in pwned_markers(lab):
        marker.unlink(missing_ok=True)
    # one folder name ('/' cannot be in it): a shell would touch ~/pwned (/root on the hosts)
    source = tmp_path / "v;$(cd;touch pwned)`cd;touch pwned`'q\"&|<>"
    source.mkdir()
    (source / "hello").write_text("from the host\n")
    extra = tmp_path / "vars.yml"
    extra.write_text(yaml.safe_dump({"volume_source": str(source)}))

    res = deploy(lab, env, "hostile.yml", "--limit", "h1", "-e", f"@{extra}", "-o", "json")
    assert res.code == 0, res
    info = inspect(lab, "h1")
    got = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert got["SEMI"] == "a; touch /tmp/pwned; b"
    assert got["SUBST"] == "$(touch /tmp/pwned)`touch /tmp/pwned`"
    assert got["QUOTES"] == "it's \"quoted\" '$(touch /tmp/pwned)'"
    assert got["NEWLINE"] == "line one\nline two; touch /tmp/pwned\n"
    assert got["DOLLAR"] == "${HOME} $HOME"
    assert info["Config"]["Labels"]["note"] == "x'; touch /tmp/pwned; echo '"
    mounts = [m for m in info["Mounts"] if m["Destination"] == "/data"]
    assert [m["Source"] for m in mounts] == [str(source)], info["Mounts"]
    inside = lab.docker("h1", "exec", "web", "cat", "/data/hello").stdout
    assert inside == "from the host\n"
    assert serves(lab, "h1", "v1")
    for marker in pwned_markers(lab):
        assert not marker.exists(), f"{marker} was created: a value ran as shell code"

    again = deploy(lab, env, "hostile.yml", "--limit", "h1", "-e", f"@{extra}", "-o", "json")
    assert again.code == 0, again
    assert again.hosts()["h1"]["status"] == "ok", again.hosts()["h1"]["containers"]
    assert container_id(lab, "h1") == info["Id"]


REJECTED = [  # (playbook, extra args, the key path the error names)
    ("bad_name.yml", [], "containers[0].name"),
    ("bad_image.yml", [], "containers[0].image"),
    ("web.yml", ["-e", "image=x;touch${IFS}/tmp/pwned"], "containers[0].image"),
    ("web.yml", ["-e", '{"image": "x\\ny $(touch /tmp/pwned)"}'], "containers[0].image"),
]


def test_hostile_names_and_images_are_rejected(clean_lab, env):
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml")).code == 0, r
    before = ids(lab, WEB)
    for marker in pwned_markers(lab):
        marker.unlink(missing_ok=True)
    for playbook, args, where in REJECTED:
        res = deploy(lab, env, playbook, *args)
        assert res.code == 5, res
        assert where in res.stderr, res
        assert "Traceback" not in res.out
    assert ids(lab, WEB) == before
    for h in WEB:
        assert not (host_fs(lab, h, "var_lib_deployer") / "lock").exists()
        assert serves(lab, h, "v1")
    for marker in pwned_markers(lab):
        assert not marker.exists(), marker
