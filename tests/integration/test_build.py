"""Build, push, deploy (issue 13) on the lab: the context packed with `.dockerignore` as
`docker build` does, built on a lab host over SSH, pushed to the TLS registry with a
password that never reaches a command line or a file there, deployed by digest."""

# ruff: noqa: F811 - pytest fixtures imported from test_deploy
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_deploy import WEB, deploy, deployer, env  # noqa: F401

pytestmark = pytest.mark.lab

BUILDER = "h1"
GIT = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
DOCKERFILE = """ARG BASE
FROM $BASE
COPY . /ctx/
RUN cp /ctx/index.html /www/index.html
"""


def context(root: Path, page: str = "built site v1", extra: str = "") -> Path:
    ctx = root / "site"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE + extra)
    (ctx / ".dockerignore").write_text("secret.txt\n*.bak\n")
    (ctx / "index.html").write_text(f"<h1>{page}</h1>\n")
    (ctx / "secret.txt").write_text("not for the image\n")
    (ctx / "notes.bak").write_text("old\n")
    subprocess.run(["git", "init", "-q", str(ctx)], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "commit", "-qm", page], check=True)
    return ctx


def args(lab, ctx: Path) -> list[str]:
    return ["-i", str(lab.inventory), "-e", f"deployer_builder={BUILDER}", "-e", f"ctx={ctx}"]


def playbook() -> str:
    from test_deploy import PLAYBOOKS

    return str(PLAYBOOKS / "build.yml")


class PsWatch:
    """Samples the process list of this machine (every lab host's processes are in it)
    while a command runs, looking for a text."""

    def __init__(self, needle: str):
        self.needle, self.seen, self.samples = needle, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            self.samples += 1
            self.seen += [ln for ln in out.splitlines() if self.needle in ln]
            time.sleep(0.02)

    def __enter__(self) -> PsWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_build_push_deploy_by_digest(clean_lab, env, tmp_path) -> None:
    lab = clean_lab
    ctx = context(tmp_path)
    password = Path(lab.layout.password_file).read_text().strip()
    docker_cfg = Path("/root/.docker/config.json")
    cfg_before = docker_cfg.read_bytes() if docker_cfg.exists() else None
    with PsWatch(password) as ps:
        res = deployer(env, "build", playbook(), *args(lab, ctx), "-o", "json", timeout=300)
    assert res.code == 0, res
    assert ps.samples > 5 and ps.seen == [], ps.seen  # never on a command line
    (img,) = res.json()["images"]
    commit = subprocess.run(
        ["git", "-C", str(ctx), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert img["image"] == f"{lab.layout.registry_tls}/demo/site:{commit}"
    assert img["digest"].startswith("sha256:") and img["ref"] == f"{img['image']}@{img['digest']}"
    assert password not in res.out
    # nothing of the login left behind (the builder shares this machine's file system)
    assert (docker_cfg.read_bytes() if docker_cfg.exists() else None) == cfg_before
    # .dockerignore as docker honours it: the image has index.html, not secret.txt nor *.bak
    files = lab.docker(BUILDER, "run", "--rm", "--entrypoint", "ls", img["image"], "/ctx").stdout
    assert sorted(files.split()) == ["Dockerfile", "index.html"], files

    # deploy --build: the same commit builds the same image; every host runs that digest
    res = deploy(lab, env, "build.yml", *args(lab, ctx)[2:], "--build", "-o", "json")
    assert res.code == 0, res
    for host in WEB:
        ref = lab.docker(host, "inspect", "--format", "{{.Config.Image}}", "site").stdout.strip()
        assert ref == img["ref"], (host, ref)
    # the tag moves to another image in the registry; the digest still names the built one
    move_tag(lab, lab.layout.image("v2"), img["image"])
    for host in WEB:
        lab.docker(host, "rm", "-f", "site")
        lab.docker(host, "rmi", "-f", img["ref"], img["image"])
    res = deploy(lab, env, "build.yml", *args(lab, ctx)[2:], "-e", f"site_image={img['ref']}")
    assert res.code == 0, res
    for host in WEB:
        got = lab.docker(host, "inspect", "--format", "{{.Image}}", "site").stdout.strip()
        assert got == img["image_id"], (host, got)


def move_tag(lab, source: str, tag: str) -> None:
    """Push SOURCE under TAG to the TLS registry, from the builder, logged in for once."""
    password = Path(lab.layout.password_file).read_text()
    from deployer.lab import REGISTRY_USER

    cfg = "/var/tmp/deployer-test-move-tag"
    script = (
        f"rm -rf {cfg}; mkdir -p {cfg}; export DOCKER_CONFIG={cfg}; "
        f"docker pull -q {source} >/dev/null && docker tag {source} {tag} && "
        f"docker login -u {REGISTRY_USER} --password-stdin {lab.layout.registry_tls} >/dev/null "
        f"&& docker push -q {tag} >/dev/null; rc=$?; rm -rf {cfg}; exit $rc"
    )
    proc = subprocess.run(
        [*lab.ssh_argv(BUILDER), script],
        input=password,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_dirty_context_is_refused_unless_allowed(clean_lab, env, tmp_path) -> None:
    lab = clean_lab
    ctx = context(tmp_path)
    (ctx / "index.html").write_text("<h1>changed, not committed</h1>\n")
    res = deployer(env, "build", playbook(), *args(lab, ctx))
    assert res.code == 7 and "uncommitted changes" in res.stderr and "--allow-dirty" in res.stderr


def test_a_failing_step_is_named_and_nothing_is_pushed_or_deployed(
    clean_lab, env, tmp_path
) -> None:
    lab = clean_lab
    ctx = context(tmp_path, extra="RUN echo about to fail && false\n")
    res = deploy(lab, env, "build.yml", *args(lab, ctx)[2:], "--build")
    assert res.code == 7, res
    assert "RUN echo about to fail && false" in res.stderr and "about to fail" in res.stderr
    for host in WEB:
        assert lab.docker(host, "inspect", "site").returncode != 0  # nothing deployed
    commit = subprocess.run(
        ["git", "-C", str(ctx), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    tags = lab.docker(BUILDER, "images", "-q", f"{lab.layout.registry_tls}/demo/site:{commit}")
    assert tags.stdout.strip() == ""  # the tag was never made, so never pushed
