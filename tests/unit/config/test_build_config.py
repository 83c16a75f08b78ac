"""`build:` on a container (issue 13): the model, and each problem with file:line and key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.config import load_playbook
from deployer.inventory import Inventory, load_inventory
from deployer.model import BuildSpec, spec_hash
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]


@pytest.fixture
def inv(write: Write) -> Inventory:
    return load_inventory([write("inv.yml", "all:\n  hosts:\n    h1:\n")])


def site(write: Write) -> str:
    path = write("site/Dockerfile", "FROM scratch\n")
    write("site/prod.Dockerfile", "FROM scratch\n")
    return os.path.dirname(path)


def play(build: str) -> str:
    return f"- hosts: all\n  containers:\n    - name: site\n      image: user/site\n      build: {build}\n"


def test_a_build_mapping_and_a_context_alone(write: Write, inv: Inventory) -> None:
    folder = site(write)
    text = play(
        "{context: site, dockerfile: prod.Dockerfile, args: {V: 1.4, X: true}, target: prod}"
    )
    (p,) = load_playbook(write("play.yml", text), inv).plays
    (spec,) = p.containers["h1"]
    assert spec.build == BuildSpec(folder, "prod.Dockerfile", (("V", "1.4"), ("X", "true")), "prod")
    (p,) = load_playbook(write("play.yml", play("site")), inv).plays
    (short,) = p.containers["h1"]
    assert short.build == BuildSpec(folder)
    # how an image is built is not what the container runs: the spec hash ignores it
    assert spec_hash(short) == spec_hash(
        p.containers["h1"][0].__class__(name="site", image="user/site")
    )


@pytest.mark.parametrize(
    "build,where,message",
    [
        ("nowhere", "plays[0].containers[0].build", "is not a folder"),
        ("{context: nowhere}", "plays[0].containers[0].build.context", "is not a folder"),
        (
            "{context: site, dockerfile: Other}",
            "plays[0].containers[0].build.dockerfile",
            "no Other",
        ),
        ("{context: site, args: {'1x': 2}}", "plays[0].containers[0].build.args.1x", "is invalid"),
        ("{context: site, args: [A]}", "plays[0].containers[0].build.args", "must be a mapping"),
        ("{context: site, target: 'a b'}", "plays[0].containers[0].build.target", "not a stage"),
        ("{dockerfile: x}", "plays[0].containers[0].build", "context"),
        ("{context: site, cache: no}", "plays[0].containers[0].build.cache", "unknown key"),
        ("3", "plays[0].containers[0].build", "must be a context folder or a mapping"),
    ],
)
def test_bad_builds_name_file_line_and_key(
    write: Write, inv: Inventory, build: str, where: str, message: str
) -> None:
    site(write)
    path = write("play.yml", play(build))
    probs = problems_of(lambda: load_playbook(path, inv))
    assert has_problem(probs, f"{path}:", f": {where}", message), probs
    assert Path(path).exists()


def test_an_image_with_build_may_name_a_digest_the_build_refuses_it(
    write: Write, inv: Inventory
) -> None:
    """Without --build a digest is a valid pin (the image is pulled as written); --build
    refuses it (engine/build.py), on the rendered name, templated or not."""
    site(write)
    digest = "sha256:" + "a" * 64
    text = play("site").replace("image: user/site", f"image: user/site@{digest}")
    (p,) = load_playbook(write("play.yml", text), inv).plays
    assert p.containers["h1"][0].image == f"user/site@{digest}"
