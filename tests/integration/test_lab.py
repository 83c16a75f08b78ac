"""The lab's promises, checked against the real thing: sshd, engines, network, registries.

Needs root and the lab's packages; uses the session lab "t" (see tests/conftest.py) and,
for the up/down cycle, a separate small lab "td".
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deployer.lab.layout import REGISTRY_USER

pytestmark = pytest.mark.lab

ALL_HOSTS = ["h1", "h2", "h3", "bastion", "p1"]
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers


def ssh_base(lab, known_hosts: Path) -> list[str]:
    return [
        "ssh",
        "-i",
        str(lab.dir / "id_ed25519"),
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
    ]


def ssh_argv(lab, name: str, known_hosts: Path, jump_known_hosts: Path | None = None) -> list[str]:
    """ssh to a lab host with the given known_hosts (the jump to the bastion keeps its own)."""
    host = lab.host(name)
    argv = ssh_base(lab, known_hosts)
    if host.role == "private":
        jump = ssh_base(lab, jump_known_hosts or lab.dir / "known_hosts")
        proxy = (
            " ".join(shlex.quote(a) for a in jump) + f" -W %h:%p root@{lab.host('bastion').address}"
        )
        argv += ["-o", f"ProxyCommand={proxy}"]
    return [*argv, f"root@{host.address}"]


def run(argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def http_get(url: str, timeout: float = 5, **kw) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, **kw) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def curl_until(url: str, want: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        proc = run(["curl", "-sS", "--max-time", "2", url], timeout=10)
        body = proc.stdout
        if proc.returncode == 0 and want in body:
            return body
        time.sleep(0.2)
    raise AssertionError(
        f"{url} never answered with {want!r}; last body {body!r}, stderr {proc.stderr!r}"
    )


def image_ref_parts(ref: str) -> tuple[str, str, str]:
    registry, rest = ref.split("/", 1)
    repo, tag = rest.rsplit(":", 1)
    return registry, repo, tag


# ---------------------------------------------------------------- ssh


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_ssh_with_strict_host_key_checking(lab, name: str) -> None:
    host = lab.host(name)
    proc = run(
        [*ssh_argv(lab, name, lab.dir / "known_hosts"), "ip -4 -o addr show dev eth0; id -u"]
    )
    assert proc.returncode == 0, proc.stderr
    # The session really runs on that host: its own namespace with its own address.
    assert f" {host.address}/24 " in proc.stdout, proc.stdout
    assert proc.stdout.split()[-1] == "0"


def test_every_host_has_its_own_host_key(lab) -> None:
    lines = [ln.split() for ln in (lab.dir / "known_hosts").read_text().splitlines() if ln.strip()]
    by_addr = {ln[0]: ln[2] for ln in lines}
    assert set(by_addr) == {lab.host(n).address for n in ALL_HOSTS}
    assert len(set(by_addr.values())) == len(ALL_HOSTS), "two hosts share a host key"


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_ssh_refused_with_a_wrong_host_key(lab, name: str, tmp_path: Path) -> None:
    run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")]
    ).check_returncode()
    kind, key = (tmp_path / "k.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    # Right keys for everyone else (the bastion, when jumping), a wrong one for this host.
    lines = [
        ln
        for ln in (lab.dir / "known_hosts").read_text().splitlines()
        if ln.split()[0] != lab.host(name).address
    ]
    known.write_text("\n".join([*lines, f"{lab.host(name).address} {kind} {key}"]) + "\n")
    proc = run([*ssh_argv(lab, name, known), "echo SHOULD-NOT-RUN"])
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr, proc.stderr
    assert "SHOULD-NOT-RUN" not in proc.stdout


def test_ssh_refused_with_an_unknown_host(lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = run([*ssh_argv(lab, "h1", empty), "echo SHOULD-NOT-RUN"])
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr, proc.stderr


# ---------------------------------------------------------------- engines and ports


def test_each_host_has_its_own_engine(clean_lab) -> None:
    lab = clean_lab
    name = f"iso-{uuid.uuid4().hex[:8]}"
    proc = lab.docker("h1", "run", "-d", "--name", name, lab.layout.image("v1"))
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    # Over SSH, `docker` on h1 talks to h1's engine.
    assert name in lab.sh("h1", "docker ps --format '{{.Names}}'").stdout.split()
    for other in ("h2", "h3"):
        assert lab.docker(other, "ps", "-aq").stdout.split() == [], other
        assert lab.docker(other, "inspect", cid).returncode != 0, other
        assert name not in lab.sh(other, "docker ps -a --format '{{.Names}}'").stdout.split()
    # And the engines are really different daemons, each with its own data. (Not checked: the
    # engine ID, which dockerd 20.10 derives from the shared /etc/docker/key.json.)
    roots = {
        lab.docker(h, "info", "--format", "{{.DockerRootDir}}").stdout.strip()
        for h in ("h1", "h2", "h3", "p1")
    }
    assert len(roots) == 4 and "" not in roots


def test_two_hosts_publish_the_same_port(clean_lab) -> None:
    lab = clean_lab
    for host, kind in (("h1", "v1"), ("h2", "v2")):
        proc = lab.docker(host, "run", "-d", "-p", "8080:80", lab.layout.image(kind))
        assert proc.returncode == 0, f"{host}: {proc.stderr}"
    for host, version in (("h1", "v1"), ("h2", "v2")):
        body = curl_until(f"http://{lab.host(host).address}:8080/", f"deployer demo {version}")
        other = "v2" if version == "v1" else "v1"
        assert f"deployer demo {other}" not in body
    # h3 publishes nothing.
    proc = run(
        ["curl", "-sS", "--max-time", "2", f"http://{lab.host('h3').address}:8080/"], timeout=10
    )
    assert proc.returncode != 0


# ---------------------------------------------------------------- the private host


def test_private_host_unreachable_directly(lab) -> None:
    addr = lab.host("p1").address
    started = time.monotonic()
    with pytest.raises(OSError), socket.create_connection((addr, 22), timeout=5):
        pass
    assert time.monotonic() - started < 2, "connecting to the private host should fail fast"
    started = time.monotonic()
    argv = list(lab.ssh_argv("h1"))
    argv[-1] = f"root@{addr}"  # same options, no jump
    proc = run([*argv, "true"], timeout=30)
    assert proc.returncode == 255
    assert time.monotonic() - started < 4, proc.stderr
    # The controller's route refuses the private subnet.
    route = run(["ip", "route", "get", addr])
    assert route.returncode != 0 or "unreachable" in route.stdout


def test_private_host_through_the_bastion(clean_lab) -> None:
    lab = clean_lab
    p1 = lab.host("p1")
    out = lab.sh(
        "p1", "ip -4 -o addr show dev eth0; docker info --format '{{.ServerVersion}}'"
    ).stdout
    assert f" {p1.address}/24 " in out
    assert out.split()[-1][0].isdigit(), out
    image = lab.layout.image("v1")
    lab.docker("p1", "rmi", "-f", image)
    try:
        proc = lab.sh(
            "p1",
            f"docker pull -q {shlex.quote(image)} && docker image inspect -f ok {shlex.quote(image)}",
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("ok")
    finally:
        lab.docker("p1", "rmi", "-f", image)


# ---------------------------------------------------------------- TLS registry with a password


def test_tls_registry_needs_login_and_login_leaves_nothing(clean_lab) -> None:
    lab = clean_lab
    reg = lab.layout.registry_tls
    image = lab.layout.image("v2", reg)
    lab.docker("h1", "rmi", "-f", image)
    anon = lab.sh(
        "h1",
        f"c=$(mktemp -d); DOCKER_CONFIG=$c docker pull {shlex.quote(image)}; "
        'rc=$?; rm -rf "$c"; exit $rc',
        check=False,
    )
    assert anon.returncode != 0
    assert "no basic auth credentials" in anon.stderr, anon.stderr

    password = (lab.dir / "registry-password").read_text().strip()
    script = (
        'set -e; export DOCKER_CONFIG=$(mktemp -d); echo "CFG=$DOCKER_CONFIG"; '
        "trap 'rm -rf \"$DOCKER_CONFIG\"' EXIT; "
        f"docker login -u {REGISTRY_USER} --password-stdin {reg} >/dev/null; "
        f"docker pull -q {shlex.quote(image)} >/dev/null; docker image inspect -f pulled {shlex.quote(image)}"
    )
    try:
        # The password goes on ssh's stdin, never on any command line.
        assert password not in script
        proc = run([*lab.ssh_argv("h1"), script], input=password + "\n")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("pulled"), proc.stdout
        cfg = next(ln for ln in proc.stdout.splitlines() if ln.startswith("CFG=")).removeprefix(
            "CFG="
        )
        assert cfg.startswith("/tmp/")
        left = lab.sh(
            "h1",
            f"test -e {shlex.quote(cfg)} && echo LEFT; "
            f"grep -rl {shlex.quote(reg)} ~/.docker /tmp 2>/dev/null; true",
        ).stdout
        assert left.strip() == "", f"credentials left behind: {left!r}"
        # The session's /tmp is h1's own: nothing of it on the controller either.
        assert not Path(cfg).exists()
    finally:
        lab.docker("h1", "rmi", "-f", image)


def test_tls_registry_api_needs_the_password(lab) -> None:
    reg = lab.layout.registry_tls
    ctx = ssl.create_default_context(cafile=str(lab.dir / "registry" / "ca.crt"))
    url = f"https://{reg}/v2/demo/web/tags/list"
    status, _ = http_get(url, context=ctx)
    assert status == 401
    password = (lab.dir / "registry-password").read_text().strip()
    req = urllib.request.Request(
        url,
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{REGISTRY_USER}:{password}".encode()).decode()
        },
    )
    status, body = http_get(req, context=ctx)  # type: ignore[arg-type]
    assert status == 200
    assert {"v1", "v2"} <= set(json.loads(body)["tags"])
    bad = urllib.request.Request(
        url, headers={"Authorization": "Basic " + base64.b64encode(b"deployer:wrong").decode()}
    )
    assert http_get(bad, context=ctx)[0] == 401  # type: ignore[arg-type]


# ---------------------------------------------------------------- inventory


def test_inventory_parses_and_names_existing_images(lab) -> None:
    doc = yaml.safe_load(lab.inventory.read_text())
    allg = doc["all"]
    v = allg["vars"]
    for key in (
        "lab_registry",
        "lab_registry_tls",
        "lab_registry_user",
        "lab_registry_password_file",
        "lab_image_v1",
        "lab_image_v2",
        "lab_image_unhealthy",
        "lab_image_crash",
    ):
        assert v.get(key), key
    groups = allg["children"]
    assert set(groups["web"]["hosts"]) == {"h1", "h2", "h3"}
    assert set(groups["private"]["hosts"]) == {"p1"}
    for group in groups.values():
        for name, hv in group["hosts"].items():
            assert hv["ansible_host"] == lab.host(name).address
    assert Path(v["lab_registry_password_file"]).read_text().strip()
    assert Path(v["ansible_ssh_private_key_file"]).exists()
    assert v["lab_registry"] == lab.layout.registry
    assert v["lab_registry_tls"] == lab.layout.registry_tls

    for kind in ("v1", "v2", "unhealthy", "crash"):
        registry, repo, tag = image_ref_parts(v[f"lab_image_{kind}"])
        assert registry == v["lab_registry"]
        status, body = http_get(f"http://{registry}/v2/{repo}/tags/list")
        assert status == 200, (kind, body)
        assert tag in json.loads(body)["tags"], (kind, body)
    status, _ = http_get(f"http://{v['lab_registry']}/v2/demo/nope/tags/list")
    assert status == 404


# ---------------------------------------------------------------- private /tmp


def test_each_host_has_its_own_tmp_and_state_dir(lab) -> None:
    marker = f"lab-test-{uuid.uuid4().hex}"
    try:
        lab.sh(
            "h1",
            f"echo hi > /tmp/{marker} && mkdir -p /var/lib/deployer && echo hi > /var/lib/deployer/{marker}",
        )
        assert lab.sh("h1", f"cat /tmp/{marker} /var/lib/deployer/{marker}").stdout == "hi\nhi\n"
        for other in ("h2", "h3", "p1"):
            out = lab.sh(other, f"ls /tmp/{marker} /var/lib/deployer/{marker} 2>&1; true").stdout
            assert "No such file" in out and out.count("No such file") == 2, (other, out)
        assert not Path(f"/tmp/{marker}").exists()
        assert not Path(f"/var/lib/deployer/{marker}").exists()
    finally:
        lab.sh("h1", f"rm -f /tmp/{marker} /var/lib/deployer/{marker}", check=False)


# ---------------------------------------------------------------- a second lab: up, up, status, down


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "deployer", *args], timeout=timeout, cwd=REPO, env=env)


def mentions(needles: list[str]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.append(f"{entry.name}: {cmd}")
    return found


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def td_leftovers(folder: Path) -> list[str]:
    netns_dir = Path("/var/run/netns")
    left = (
        [f"netns {p.name}" for p in netns_dir.iterdir() if p.name.startswith("dltd-")]
        if netns_dir.exists()
        else []
    )
    links = run(["ip", "-o", "link", "show"]).stdout
    left += [
        f"link {ln.split(':', 2)[1].strip()}"
        for ln in links.splitlines()
        if ln.split(":", 2)[1].strip().startswith("dltd")
    ]
    left += [f"process {p}" for p in mentions([str(folder), "/run/deployer-lab-td"])]
    left += [f"path {p}" for p in (Path("/run/deployer-lab-td"), folder) if p.exists()]
    return left


@pytest.fixture
def td_dir() -> Iterator[Path]:
    folder = Path(f"/var/tmp/deployer-test-lab-td-{uuid.uuid4().hex[:6]}")
    yield folder
    if (
        folder.exists()
        or Path("/run/deployer-lab-td").exists()
        or Path("/var/run/netns/dltd-h1").exists()
    ):
        cli("lab", "down", "--name", "td", "--dir", str(folder))
    shutil.rmtree(folder, ignore_errors=True)


def test_second_lab_up_twice_status_down(lab, td_dir: Path) -> None:
    from deployer.lab import make_layout, net

    td = make_layout("td", td_dir, 1)
    up1 = cli("lab", "up", "--name", "td", "--hosts", "1", "--dir", str(td_dir))
    assert up1.returncode == 0, up1.stderr
    assert "Traceback" not in up1.stderr
    pids1 = json.loads((td_dir / "state.json").read_text())["pids"]
    keys1 = (td_dir / "known_hosts").read_text()
    assert pids1 and all(pid_alive(p) for p in pids1.values())

    # While td is up, lab "t" (whose prefix "dlt" is a prefix of "dltd") must not count td's
    # network as its own: `down` of "t" would otherwise tear td's links out.
    t_left = net.leftovers(lab.layout)
    assert not [x for x in t_left if "dltd" in x], t_left

    up2 = cli("lab", "up", "--name", "td", "--hosts", "1", "--dir", str(td_dir))
    assert up2.returncode == 0, up2.stderr
    pids2 = json.loads((td_dir / "state.json").read_text())["pids"]
    assert set(pids2) == set(pids1)
    assert not [k for k, p in pids1.items() if pid_alive(p)], (
        "the second up left the first lab's processes"
    )
    assert all(pid_alive(p) for p in pids2.values())
    assert (td_dir / "known_hosts").read_text() != keys1, "host keys were not made anew"
    netns = sorted(p.name for p in Path("/var/run/netns").iterdir() if p.name.startswith("dltd-"))
    assert netns == ["dltd-bastion", "dltd-h1", "dltd-p1"]

    # The new lab works: strict ssh to its host with its known_hosts, its engine answers.
    h1 = td.hosts()[0]
    ssh = run(
        [
            "ssh",
            "-i",
            str(td.key_file),
            "-o",
            f"UserKnownHostsFile={td.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            f"root@{h1.address}",
            "docker info --format '{{.ServerVersion}}'",
        ]
    )
    assert ssh.returncode == 0, ssh.stderr
    # And the session lab is untouched.
    assert lab.sh("h1", "true").returncode == 0

    status = cli("lab", "status", "--name", "td", "--dir", str(td_dir))
    assert status.returncode == 0, status.stderr
    rows = {ln.split()[0]: ln for ln in status.stdout.splitlines() if ln.strip()}
    assert "sshd up" in rows["h1"] and "dockerd up" in rows["h1"], status.stdout
    assert "sshd up" in rows["bastion"] and "sshd up" in rows["p1"], status.stdout
    assert "DOWN" not in status.stdout and "not up" not in status.stdout, status.stdout

    down = cli("lab", "down", "--name", "td", "--dir", str(td_dir))
    assert down.returncode == 0, down.stderr + down.stdout
    assert td_leftovers(td_dir) == []
    assert run(["ip", "route", "show", td.private_subnet]).stdout.strip() == ""
    assert not td.certs_d.exists()
    # ... and the session lab is still fine.
    assert lab.sh("h1", "true").returncode == 0
    assert f"link {lab.layout.bridge}" in net.leftovers(lab.layout)


# ---------------------------------------------------------------- prerequisites


def test_lab_up_as_non_root_fails_clearly() -> None:
    # A user namespace makes the real CLI run with euid 65534 (nobody) and no
    # capabilities on this machine, while it can still read the installed package.
    folder = Path(f"/var/tmp/deployer-test-lab-nobody-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    proc = run(
        [
            "unshare",
            "--user",
            sys.executable,
            "-m",
            "deployer",
            "lab",
            "up",
            "--name",
            "td",
            "--hosts",
            "1",
            "--dir",
            str(folder),
        ],
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "needs root" in proc.stderr, proc.stderr
    assert not folder.exists()
    assert not Path("/var/run/netns/dltd-h1").exists()


def test_lab_up_with_a_missing_program_names_it(tmp_path: Path) -> None:
    from deployer.lab.system import REQUIRED

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for prog, where in REQUIRED.items():
        if where is None and prog != "dockerd":
            real = shutil.which(prog)
            assert real, prog
            (bin_dir / prog).symlink_to(real)
    folder = Path(f"/var/tmp/deployer-test-lab-nodockerd-{uuid.uuid4().hex[:6]}")
    env = {**os.environ, "PATH": str(bin_dir)}
    proc = cli(
        "lab", "up", "--name", "td", "--hosts", "1", "--dir", str(folder), env=env, timeout=60
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "missing system programs: dockerd." in proc.stderr, proc.stderr
    assert "apt-get install" in proc.stderr and "docker.io" in proc.stderr
    assert not folder.exists()
