"""The Engine API's answers read as the facts script's lines (docker/api_facts.py): the same
Facts from the same containers and images.

api_facts_recorded.json holds what a real engine (Docker 20.10, a lab's) answered for four
containers (running and healthy with published ports; created, never started; running on
two networks, the second one's name first in order; exited, unhealthy) and two images:
the Engine API's JSON and the `docker inspect --format` line the CLI printed for each.
The secret digests are checked against the facts script's own shell lines, run by sh.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from deployer.docker import api_facts
from deployer.docker.facts import (
    MARK_CONTAINERS,
    MARK_IMAGES,
    MARK_SECRETS,
    parse_facts,
    secret_digest_lines,
)
from deployer.model import ContainerSpec, Facts, RegistryAuth, Secret, secret_digest

RECORDED = json.loads((Path(__file__).parent / "api_facts_recorded.json").read_text())


def full(facts: Facts) -> dict[str, object]:
    """Every field, the ones Observed leaves out of == too."""
    return asdict(facts)


def test_recorded_api_answers_give_the_facts_the_cli_lines_give() -> None:
    cli = "\n".join(
        [
            "some banner the login printed",
            MARK_CONTAINERS,
            *(c["cli"] for c in RECORDED["containers"]),
            MARK_IMAGES,
            *(i["cli"] for i in RECORDED["images"]),
            MARK_SECRETS,
            "web API_TOKEN " + "ab" * 32,
        ]
    )
    over_api = api_facts.build_facts(
        [c["api"] for c in RECORDED["containers"]],
        [i["api"] for i in RECORDED["images"]],
        [("web", "API_TOKEN", "ab" * 32)],
    )
    assert full(over_api) == full(parse_facts(cli))
    by_name = {c.name: c for c in over_api.containers}
    assert by_name["apw-multi"].ip == "172.19.0.2"  # apwneta's, before apwnetb's
    assert by_name["apw-created"].ip == "" and by_name["apw-created"].status == "created"
    assert by_name["web"].health == "healthy" and by_name["web"].ports["80/tcp"]
    assert by_name["apw-exited"].exit_code == 3
    assert len(over_api.images) == 2 and len(over_api.by_id) == 1


def test_the_first_image_to_claim_a_tag_keeps_it_as_in_the_script() -> None:
    one = {"Id": "sha256:1", "RepoTags": ["r/a:1"], "RepoDigests": []}
    two = {"Id": "sha256:2", "RepoTags": ["r/a:1", "r/a:2"], "RepoDigests": ["r/a@sha256:9"]}
    facts = api_facts.build_facts([], [one, two], [])
    assert facts.images["r/a:1"].id == "sha256:1" and facts.images["r/a:2"].id == "sha256:2"
    assert facts.images["r/a@sha256:9"].digest == "sha256:9"


def _spec(**secrets: str) -> ContainerSpec:
    return ContainerSpec(
        name="web",
        image="r/a:1",
        secret_env=tuple((k, Secret("test", v)) for k, v in secrets.items()),
    )


ENV = [
    "PATH=/usr/bin",
    "API_TOKEN=s3cr=t with spaces",
    "DB_PASSWORD=",
    "MULTI=first line\nDB_URL=not a real line",
    "API_TOKEN_OLD=other",
]


def _shell_digests(spec: ContainerSpec, env: list[str], nonce: str) -> list[tuple[str, str]]:
    """secret_digest_lines run by sh, `docker container inspect` answering with ENV."""
    fake = "docker() { printf '%s\\n' " + " ".join(_q(e) for e in env) + "; }"
    script = "\n".join([fake, *secret_digest_lines([spec], nonce)])
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()[1:]  # after the marker
    return [(ln.split(" ")[1], ln.split(" ")[2]) for ln in lines]


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("nonce", ["n0nce", "a b'c"])
def test_secret_digests_on_the_controller_equal_the_hosts_shell(nonce: str) -> None:
    spec = _spec(API_TOKEN="x", DB_PASSWORD="y", DB_URL="z")
    mine = api_facts.secret_digests(spec, ENV, nonce)
    assert mine == _shell_digests(spec, ENV, nonce)
    assert dict(mine) == {
        "API_TOKEN": secret_digest(nonce, "s3cr=t with spaces"),
        "DB_PASSWORD": secret_digest(nonce, ""),
        "DB_URL": secret_digest(nonce, "not a real line"),  # as `read -r` cuts it
    }


def test_no_env_no_digests() -> None:
    assert api_facts.secret_digests(_spec(API_TOKEN="x"), None, "n") == []


REG = RegistryAuth("10.0.0.1:5443", "deployer", Secret("test", "pw"))


@pytest.mark.parametrize(
    ("image", "registry", "sent"),
    [
        ("10.0.0.1:5443/demo/web:v1", REG, True),
        ("10.0.0.1:5443/demo/web@sha256:" + "a" * 64, REG, True),
        ("10.0.0.1:5000/demo/web:v1", REG, False),  # another registry: never its password
        ("nginx:1.22", REG, False),
        ("nginx:1.22", RegistryAuth(None, "u", Secret("t", "p")), True),  # Docker Hub
        (
            "docker.io/library/nginx",
            RegistryAuth("https://index.docker.io/v1/", "u", Secret("t", "p")),
            True,
        ),
        ("ghcr.io/a/b:1", RegistryAuth(None, "u", Secret("t", "p")), False),
        (
            "10.0.0.1:5443/demo/web:v1",
            RegistryAuth("https://10.0.0.1:5443/", "u", Secret("t", "p")),
            True,
        ),
        ("10.0.0.1:5443/demo/web:v1", None, False),
        ("10.0.0.1:5443/demo/web:v1", RegistryAuth("10.0.0.1:5443", None, None), False),
    ],
)
def test_credentials_go_only_with_an_image_of_their_registry(
    image: str, registry: RegistryAuth | None, sent: bool
) -> None:
    auth = api_facts.auth_for(image, registry)
    assert (auth is not None) == sent
    if auth is not None and registry is not None:
        assert registry.password is not None
        assert auth["username"] == registry.username
        assert auth["password"] == registry.password.reveal()


def test_a_pull_stream_error_is_found() -> None:
    ok = '{"status":"Pulling from demo/web"}\n{"status":"Digest: sha256:1"}\n'
    assert api_facts.pull_error(ok) is None
    bad = ok + '{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n'
    assert api_facts.pull_error(bad) == "manifest unknown"


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.22",
        "library/nginx@sha256:" + "a" * 64,
        "10.0.0.1:5443/demo/web:v1",
        "localhost/x",
        "localhost:5000/x:1",
        "ghcr.io/a/b:1",
        "index.docker.io/library/nginx",
        "docker.io/library/nginx",
        "my-user/app:2",
    ],
)
def test_the_image_registry_is_the_sdks(image: str) -> None:
    from docker.auth import resolve_repository_name  # the SDK's own, for the comparison

    assert api_facts.image_registry(image) == resolve_repository_name(image.split("@")[0])[0]
