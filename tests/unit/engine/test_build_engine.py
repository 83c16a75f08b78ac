"""engine/build.py and docker/build.py (issue 13): tags from git, one image per build,
pinning to digests, the engine's build and push streams, and which login a push takes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deployer.docker import build as db
from deployer.engine import build as eb
from deployer.errors import BuildError
from deployer.model import BuildSpec, ContainerSpec, HostConn, Play, Playbook, RegistryAuth, Secret

GIT = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]


def repo(tmp_path: Path) -> Path:
    ctx = tmp_path / "site"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run(["git", "init", "-q", str(ctx)], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "commit", "-qm", "one"], check=True)
    return ctx


def head(ctx: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(ctx), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip()


def job(image: str, ctx: Path) -> eb.Job:
    return eb.Job(image, BuildSpec(str(ctx)), None, ("p: site",))


def test_an_untagged_image_is_tagged_with_the_contexts_commit(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    assert eb.tag_of(job("reg:5000/site", ctx), False) == f"reg:5000/site:{head(ctx)}"
    assert eb.tag_of(job("reg:5000/site:1.4", ctx), False) == "reg:5000/site:1.4"


def test_a_dirty_context_is_refused_unless_allowed(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    (ctx / "new.txt").write_text("x\n")
    with pytest.raises(BuildError, match="uncommitted changes.*--allow-dirty"):
        eb.tag_of(job("user/site", ctx), False)
    assert eb.tag_of(job("user/site", ctx), True) == f"user/site:{head(ctx)}-dirty"
    # a change outside the context does not make it dirty
    (ctx / "new.txt").unlink()
    sub = ctx / "sub"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run([*GIT, "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "commit", "-qm", "two"], check=True)
    (ctx / "outside.txt").write_text("x\n")
    assert eb.tag_of(job("user/site", sub), False) == f"user/site:{head(ctx)}"


def test_a_context_outside_git_needs_a_tag(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not in a git repository.*user/site:1.0"):
        eb.tag_of(job("user/site", tmp_path), False)


def play(*specs: ContainerSpec, name: str = "p") -> Play:
    hosts = (HostConn("h1", "h1"), HostConn("h2", "h2"))
    return Play(name, hosts, {h.name: specs for h in hosts})


def test_one_build_per_image_and_two_ways_of_building_one_image_is_an_error(tmp_path: Path) -> None:
    a = BuildSpec(str(tmp_path / "a"))
    site = ContainerSpec("site", "user/site", build=a)
    other = ContainerSpec("worker", "user/site", build=a)
    plain = ContainerSpec("db", "redis")
    (j,) = eb.jobs(Playbook("x.yml", (play(site, other, plain),)))
    assert j.used_by == ("p: site", "p: worker")
    clash = ContainerSpec("site", "user/site", build=BuildSpec(str(tmp_path / "b")))
    with pytest.raises(BuildError, match="built two ways"):
        eb.jobs(Playbook("x.yml", (play(site), play(clash, name="q"))))


def test_the_playbook_is_pinned_to_the_digests_pushed(tmp_path: Path) -> None:
    site = ContainerSpec("site", "user/site", build=BuildSpec(str(tmp_path)))
    plain = ContainerSpec("db", "user/site")  # the same name without build: left as written
    pb = Playbook("x.yml", (play(site, plain),))
    built = eb.Built("user/site", "user/site:abc", "sha256:" + "d" * 64, "sha256:i", 1.0, ())
    out = eb.pinned(pb, [built])
    for specs in out.plays[0].containers.values():
        assert [s.image for s in specs] == [f"user/site:abc@sha256:{'d' * 64}", "user/site"]


def test_the_build_stream_names_the_failing_step_and_its_output() -> None:
    lines: list[str] = []
    events = [
        {"stream": "Step 1/3 : FROM base\n"},
        {"stream": " ---> 123\n"},
        {"stream": "Step 2/3 : RUN make\n"},
        {"stream": "cc: error: no input files\n"},
        {"error": "The command '/bin/sh -c make' returned a non-zero code: 1"},
    ]
    with pytest.raises(db.BuildFailed) as info:
        db.read_build(events, lines.append)
    text = str(info.value)
    assert text.startswith("Step 2/3 : RUN make: The command")
    assert "cc: error: no input files" in text and "FROM base" not in text
    assert "Step 1/3 : FROM base" in lines


def test_the_build_stream_gives_the_image_id_and_the_push_stream_the_digest() -> None:
    image = db.read_build([{"stream": "Step 1/1 : FROM x\n"}, {"aux": {"ID": "sha256:i"}}], print)
    assert image == "sha256:i"
    digest = "sha256:" + "e" * 64
    pushed = [
        {"status": "The push refers to repository [reg/site]"},
        {"status": "Pushing", "progressDetail": {"current": 1}, "id": "abc"},
        {"status": "abc: digest: ...", "aux": {"Tag": "v1", "Digest": digest, "Size": 5}},
    ]
    assert db.read_push(pushed, lambda _: None) == digest
    with pytest.raises(db.BuildFailed, match="push: denied"):
        db.read_push([{"error": "denied: requested access to the resource is denied"}], print)
    with pytest.raises(db.BuildFailed, match="no digest"):
        db.read_push([{"status": "Pushed"}], print)


def test_a_push_takes_the_plays_login_only_for_its_own_registry() -> None:
    auth = RegistryAuth("reg.example:5000", "me", Secret("file:x", "pw"))
    assert db.auth_for("reg.example:5000/site:1", auth) == {
        "username": "me",
        "password": "pw",
        "serveraddress": "reg.example:5000",
    }
    assert db.auth_for("other.example/site:1", auth) is None  # not sent to another registry
    assert db.auth_for("user/site:1", auth) is None
    hub = RegistryAuth(None, "me", Secret("file:x", "pw"))
    assert db.auth_for("user/site:1", hub) == {"username": "me", "password": "pw"}
    assert db.auth_for("user/site:1", None) is None


class FakeApi:
    """An Engine API client: builds succeed unless named in `fail`; records what it did."""

    def __init__(self, fail: str = "", raises: Exception | None = None) -> None:
        self.fail, self.raises, self.calls = fail, raises, []  # type: list[str]
        self._auth_configs = "the controller's own logins"
        self.build_auth: list[object] = []

    def build(self, **kw: object) -> list[dict[str, object]]:
        self.calls.append(f"build {kw['tag']}")
        self.build_auth.append(self._auth_configs)
        if self.raises is not None:
            raise self.raises
        if self.fail and self.fail in str(kw["tag"]):
            return [{"stream": "Step 1/1 : RUN false\n"}, {"error": "returned a non-zero code: 1"}]
        return [{"aux": {"ID": "sha256:i"}}]

    def push(self, repo: str, **kw: object) -> list[dict[str, object]]:
        self.calls.append(f"push {repo}:{kw['tag']}")
        return [{"aux": {"Digest": "sha256:" + "f" * 64}}]


def test_a_failed_build_pushes_nothing_not_even_the_images_built_before(tmp_path: Path) -> None:
    """Each image was built and pushed in turn: `site` was pushed (its tag moved) before
    `worker` failed (review 2, finding 6)."""
    todo = [job("reg/site:1", tmp_path), job("reg/worker:1", tmp_path)]
    api = FakeApi(fail="worker")
    with pytest.raises(BuildError, match="reg/worker:1: Step 1/1 : RUN false"):
        eb.run(todo, api, allow_dirty=False, on_line=lambda *_: None)
    assert api.calls == ["build reg/site:1", "build reg/worker:1"]


def test_a_build_sees_only_the_plays_login_and_sdk_errors_are_build_errors(tmp_path: Path) -> None:
    """The SDK sent every credential of this machine's Docker config to the builder
    (X-Registry-Config); an engine or connection error was a traceback (findings 3, 5)."""
    import docker.errors

    api = FakeApi()
    eb.run([job("reg/site:1", tmp_path)], api, allow_dirty=False, on_line=lambda *_: None)
    (seen,) = api.build_auth
    assert seen != "the controller's own logins" and not dict(seen).get("auths")  # type: ignore[call-overload]
    assert api._auth_configs == "the controller's own logins"  # the push's, as before
    broken = FakeApi(raises=docker.errors.APIError("500 Server Error: boom"))
    with pytest.raises(BuildError, match="reg/site:1: build failed: 500 Server Error"):
        eb.run([job("reg/site:1", tmp_path)], broken, allow_dirty=False, on_line=lambda *_: None)


def test_a_given_tag_does_not_skip_the_dirty_check(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    (ctx / "new.txt").write_text("x\n")
    with pytest.raises(BuildError, match="uncommitted changes"):
        eb.tag_of(job("user/site:1.4", ctx), False)
    assert eb.tag_of(job("user/site:1.4", ctx), True) == "user/site:1.4"


def test_a_dockerfile_outside_the_context_counts_in_the_dirty_check(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    sub = ctx / "app"
    sub.mkdir()
    (sub / "index.html").write_text("hi\n")
    subprocess.run([*GIT, "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "commit", "-qm", "two"], check=True)
    outside = eb.Job("user/site", BuildSpec(str(sub), dockerfile="../Dockerfile"), None, ("p: s",))
    assert eb.tag_of(outside, False) == f"user/site:{head(ctx)}"
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL changed=1\n")
    with pytest.raises(BuildError, match="uncommitted changes"):
        eb.tag_of(outside, False)
    assert eb.tag_of(outside, True) == f"user/site:{head(ctx)}-dirty"


def test_a_dockerfile_outside_the_repository_cannot_be_vouched_for(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    (tmp_path / "Dockerfile.loose").write_text("FROM scratch\n")
    loose = eb.Job("user/site", BuildSpec(str(ctx), dockerfile="../Dockerfile.loose"), None, ("p",))
    with pytest.raises(BuildError, match="cannot tell whether.*--allow-dirty"):
        eb.tag_of(loose, False)
    assert eb.tag_of(loose, True) == f"user/site:{head(ctx)}-dirty"


@pytest.mark.parametrize("how", ["absolute", "./../Dockerfile"])
def test_a_dockerfile_outside_the_context_however_written_counts(tmp_path: Path, how: str) -> None:
    ctx = repo(tmp_path)
    sub = ctx / "app"
    sub.mkdir()
    (sub / "index.html").write_text("hi\n")
    subprocess.run([*GIT, "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(ctx), "commit", "-qm", "two"], check=True)
    dockerfile = str(ctx / "Dockerfile") if how == "absolute" else how
    outside = eb.Job("user/site", BuildSpec(str(sub), dockerfile=dockerfile), None, ("p: s",))
    assert eb.tag_of(outside, False) == f"user/site:{head(ctx)}"
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL changed=1\n")
    with pytest.raises(BuildError, match="uncommitted changes"):
        eb.tag_of(outside, False)


def test_a_built_image_naming_a_digest_is_refused_by_the_build(tmp_path: Path) -> None:
    ctx = repo(tmp_path)
    digest = "sha256:" + "b" * 64
    spec = ContainerSpec(name="site", image=f"user/site@{digest}", build=BuildSpec(str(ctx)))
    book = Playbook("pb.yml", (play(spec),))
    with pytest.raises(BuildError, match=r"p: site: image user/site@sha256:b+ names a digest"):
        eb.jobs(book)
