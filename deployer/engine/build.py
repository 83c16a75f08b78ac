"""Build and push the images a playbook builds (`build:` on a container), then pin the
playbook to the digests pushed: every host runs the same bits even if the tag moves.

Never prints: progress goes to the caller's `on_line`. The builder is any Docker Engine API
client (a host's over SSH, or the controller's own engine).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployer.docker import build as dbuild
from deployer.errors import BuildError
from deployer.model import BuildSpec, Playbook, RegistryAuth

GIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Job:
    """One image to build: the same name and build spec, however many containers use it."""

    image: str  # as the playbook names it, tag or not
    spec: BuildSpec
    registry: RegistryAuth | None
    used_by: tuple[str, ...]  # "play: container"


@dataclass(frozen=True)
class Built:
    name: str  # the image as the playbook names it
    image: str  # repo:tag, as built and pushed
    digest: str
    image_id: str
    took: float
    used_by: tuple[str, ...]

    @property
    def ref(self) -> str:
        """What the hosts pull: the tag for people, the digest for the bits."""
        return f"{self.image}@{self.digest}"


def jobs(pb: Playbook) -> list[Job]:
    """The distinct builds of a playbook; one image name built two ways is an error."""
    found: dict[str, Job] = {}
    for play in pb.plays:
        for specs in play.containers.values():
            for spec in specs:
                if spec.build is None:
                    continue
                who = f"{play.name}: {spec.name}"
                if "@" in spec.image:
                    raise BuildError(
                        f"{who}: image {spec.image} names a digest, but --build makes the image: "
                        "its digest is known only once it is pushed, and deployer pins the hosts "
                        "to it then (name it repo or repo:tag)"
                    )
                job = found.get(spec.image)
                if job is None:
                    found[spec.image] = Job(spec.image, spec.build, play.registry, (who,))
                elif job.spec != spec.build:
                    raise BuildError(
                        f"{spec.image} is built two ways ({', '.join(job.used_by)} and {who}): "
                        "give them different image names"
                    )
                elif who not in job.used_by:
                    found[spec.image] = dataclasses.replace(job, used_by=(*job.used_by, who))
    return list(found.values())


def _git(context: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", context, *args], capture_output=True, text=True, timeout=GIT_TIMEOUT
    )


def _status_paths(spec: BuildSpec) -> list[str]:
    """What the dirty check covers: the context, and the Dockerfile wherever it lies outside
    it (`../Dockerfile`, `./../x`, an absolute path), as an absolute path."""
    context = os.path.realpath(spec.context)
    dockerfile = os.path.realpath(os.path.join(context, spec.dockerfile))
    if os.path.commonpath([context, dockerfile]) == context:
        return ["."]
    return [".", dockerfile]


def tag_of(job: Job, allow_dirty: bool) -> str:
    """The image with its tag: the playbook's, else the context's git commit (short). A
    context in git with uncommitted changes is refused unless allow_dirty (the commit's
    tag then ends in `-dirty`), whether the tag is given or not: what is pushed is what is
    committed."""
    repo, tag = dbuild.split_tag(job.image)
    try:
        head = _git(job.spec.context, "rev-parse", "--short=12", "HEAD")
        status = _git(job.spec.context, "status", "--porcelain", "--", *_status_paths(job.spec))
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildError(f"{job.image}: cannot ask git for the context's commit: {err}") from err
    if head.returncode != 0:
        if tag:
            return job.image
        raise BuildError(
            f"{job.image}: the build context {job.spec.context} is not in a git repository with "
            f"a commit, so it has no version to tag: give the image a tag ({repo}:1.0)"
        )
    commit = head.stdout.strip()
    if status.returncode != 0 and not allow_dirty:  # e.g. a Dockerfile outside the repository
        raise BuildError(
            f"{job.image}: cannot tell whether the build context {job.spec.context} and its "
            f"Dockerfile are committed (git status: {' '.join(status.stderr.split())[:300]}): "
            "keep the Dockerfile in the context's repository, or pass --allow-dirty"
        )
    if (status.stdout.strip() or status.returncode != 0) and not allow_dirty:
        raise BuildError(
            f"{job.image}: the build context {job.spec.context} has uncommitted changes "
            "(git status): commit them, or pass --allow-dirty to build them"
            + ("" if tag else f" as {repo}:{commit}-dirty")
        )
    if tag:
        return job.image
    dirty = status.stdout.strip() or status.returncode != 0
    return f"{repo}:{commit}-dirty" if dirty else f"{repo}:{commit}"


def run(
    todo: list[Job], api: Any, *, allow_dirty: bool, on_line: Callable[[str, str], None]
) -> list[Built]:
    """Tag every job first (a refused one changes nothing), build them all, and only then
    push them all: a build that fails pushes nothing. on_line(image, line): the engine's
    output, line by line."""
    tagged = [(job, tag_of(job, allow_dirty)) for job in todo]
    images: list[tuple[Job, str, str, float]] = []
    for job, image in tagged:
        t0 = time.monotonic()
        say = functools.partial(on_line, image)
        auth = dbuild.auth_for(image, job.registry)
        build = functools.partial(dbuild.build, api, job.spec, image, say, auth)
        image_id = _engine(image, "build", build)
        images.append((job, image, image_id, time.monotonic() - t0))
    out: list[Built] = []
    for job, image, image_id, took in images:
        t0 = time.monotonic()
        say = functools.partial(on_line, image)
        push = functools.partial(dbuild.push, api, image, dbuild.auth_for(image, job.registry), say)
        digest = _engine(image, "push", push)
        out.append(
            Built(job.image, image, digest, image_id, took + time.monotonic() - t0, job.used_by)
        )
    return out


def _engine(image: str, what: str, step: Callable[[], str]) -> str:
    """One build or push; whatever the engine, the SDK or the connection raise is said as
    a BuildError naming the image (exit 7), never a traceback."""
    import docker.errors
    import requests

    try:
        return step()
    except dbuild.BuildFailed as err:
        raise BuildError(f"{image}: {err}") from err
    except requests.exceptions.ReadTimeout as err:
        raise BuildError(f"{image}: {what}: the engine said nothing for too long ({err})") from err
    except (docker.errors.DockerException, requests.RequestException, OSError) as err:
        raise BuildError(f"{image}: {what} failed: {err}") from err
    except Exception as err:  # noqa: BLE001 - paramiko's, in the middle of a stream
        raise BuildError(f"{image}: {what} failed: {type(err).__name__}: {err}") from err


def pinned(pb: Playbook, built: list[Built]) -> Playbook:
    """The playbook with each built container's image replaced by `repo:tag@digest`."""
    refs = {b.name: b.ref for b in built}

    def pin(play: Any) -> Any:
        containers = {
            host: tuple(
                dataclasses.replace(s, image=refs[s.image])
                if s.build is not None and s.image in refs
                else s
                for s in specs
            )
            for host, specs in play.containers.items()
        }
        return dataclasses.replace(play, containers=containers)

    return dataclasses.replace(pb, plays=tuple(pin(p) for p in pb.plays))
