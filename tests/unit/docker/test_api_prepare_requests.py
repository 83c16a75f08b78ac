"""A prepare over the Engine API asks each question once (targets/api_prepare.py): the pull
policy's look at an image and the facts' read of it are one `GET /images/{ref}/json` until
a pull, which may move the tag, makes it ask again. (Before, a no-op asked twice per image:
five requests per host where four do.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker.errors
import requests

from deployer.model import ContainerSpec, RunOptions
from deployer.targets.api_prepare import ApiPrepare

RECORDED = json.loads((Path(__file__).parent / "api_facts_recorded.json").read_text())
REF = RECORDED["containers"][0]["api"]["Config"]["Image"]
IMAGE = RECORDED["images"][0]["api"]


class Engine:
    """The four requests' answers from a real engine's record; every call written down."""

    def __init__(self, has_image: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        self.has_image = has_image

    def containers(self, **_: Any) -> list[dict[str, Any]]:
        self.calls.append(("containers", ""))
        return [{"Id": c["api"]["Id"]} for c in RECORDED["containers"][:1]]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self.calls.append(("inspect_container", cid))
        return next(c["api"] for c in RECORDED["containers"] if c["api"]["Id"] == cid)

    def inspect_image(self, ref: str) -> dict[str, Any]:
        self.calls.append(("inspect_image", ref))
        if self.has_image and ref in (REF, IMAGE["Id"]):
            return dict(IMAGE)
        raise docker.errors.NotFound("no such image", response=requests.Response())

    def pull(self, image: str, **_: Any) -> str:
        self.calls.append(("pull", image))
        self.has_image = True
        return '{"status":"Downloaded newer image"}'


def _prepare(engine: Engine, policy: str) -> ApiPrepare:
    spec = ContainerSpec(name="web", image=REF, options=RunOptions(pull=policy))  # type: ignore[arg-type]
    prepare = ApiPrepare(engine)  # type: ignore[arg-type]
    prepare._pulls([REF], None, True, [spec], [])  # noqa: SLF001
    prepare._facts([REF], [spec], "nonce")  # noqa: SLF001
    return prepare


def test_a_no_op_reads_the_image_once() -> None:
    engine = Engine()
    _prepare(engine, "missing")
    assert [c for c in engine.calls if c[0] == "inspect_image"] == [("inspect_image", REF)]
    assert len(engine.calls) == 3  # the image, the list, the container


def test_a_pull_makes_the_image_read_again() -> None:
    engine = Engine(has_image=False)
    _prepare(engine, "missing")
    assert engine.calls[:2] == [("inspect_image", REF), ("pull", REF)]
    assert engine.calls.count(("inspect_image", REF)) == 2  # before the pull, and after it
