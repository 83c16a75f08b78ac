"""plan/: what a host reports (facts) + what the playbook wants -> actions. Tables, no SSH."""

from __future__ import annotations

import json

import pytest

from deployer.docker import commands as c
from deployer.docker.facts import parse_facts
from deployer.model import ContainerSpec, PortSpec, Secret
from deployer.plan import (
    Facts,
    ImageInfo,
    Observed,
    diff,
    image_key,
    plan_host,
    plan_rollback,
    to_prune,
)

V1, V2 = "reg:5000/demo/web:v1", "reg:5000/demo/web:v2"
IMG1, IMG2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def spec(**kw) -> ContainerSpec:
    base = dict(name="web", image=V1, ports=(PortSpec(80, "tcp", 8080),), env=(("A", "1"),))
    base.update(kw)
    return ContainerSpec(**base)


def labels_of(s: ContainerSpec) -> dict[str, str]:
    argv = c.run_argv(s, c.ENV_FILE if s.secret_env else None, "2024-01-01T00:00:00Z", "me@h")
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--label")


def docker_line(
    s: ContainerSpec,
    cid: str,
    *,
    name: str | None = None,
    image_id: str = IMG1,
    status: str = "running",
    created: str = "2024-01-01T00:00:00Z",
    **labels: str,
) -> str:
    """One line as INSPECT_FORMAT makes docker print it, for a container started from spec s."""
    return json.dumps(
        {
            "id": cid,
            "name": "/" + (name or s.name),
            "created": created,
            "image_id": image_id,
            "image": s.image,
            "labels": {**labels_of(s), **labels},
            "status": status,
            "running": status == "running",
            "exit_code": 0 if status == "running" else 1,
            "started_at": created,
            "finished_at": "0001-01-01T00:00:00Z",
            "health": None,
            "restarts": 0,
            "ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
            "ip": "172.17.0.2",
        }
    )


def image_line(ref: str, image_id: str) -> str:
    repo = ref.rsplit(":", 1)[0]
    return json.dumps({"id": image_id, "tags": [ref], "digests": [f"{repo}@sha256:{'d' * 64}"]})


NONCE = "n0nce"


def secret_lines(s: ContainerSpec) -> list[str]:
    """What secret_digest_lines prints for a live container started from spec s."""
    return [f"{s.name} {k} {c.secret_digest(NONCE, v.reveal())}" for k, v in s.secret_env]


def facts(*containers: str, images: tuple[str, ...] = (), secrets: tuple[str, ...] = ()) -> Facts:
    out = (
        "\n".join(
            [c.MARK_CONTAINERS, *containers, c.MARK_IMAGES, *images, c.MARK_SECRETS, *secrets]
        )
        + "\n"
    )
    return parse_facts(out)


# ---------------------------------------------------------------- parse_facts


def test_parse_facts_reads_both_sections_and_skips_noise():
    s = spec()
    out = "\n".join(
        [
            "Login Succeeded",
            "WARNING: something",
            c.MARK_CONTAINERS,
            docker_line(s, "c1"),
            "  " + docker_line(s, "c0", name="web_prev_c0", created="2023-01-01"),
            "",
            c.MARK_IMAGES,
            image_line(V1, IMG1),
            "not json",
        ]
    )
    f = parse_facts(out)
    assert [o.id for o in f.containers] == ["c1", "c0"]
    live = f.live("web")
    assert live is not None and live.id == "c1" and live.name == "web" and live.running
    assert live.image == V1 and live.image_id == IMG1 and live.ip == "172.17.0.2"
    assert live.ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert [o.id for o in f.previous("web")] == ["c0"]
    assert f.images[V1] == ImageInfo(IMG1, (f"reg:5000/demo/web@sha256:{'d' * 64}",))
    assert f.images[V1].digest == "sha256:" + "d" * 64


def test_parse_facts_empty_host():
    f = parse_facts(f"{c.MARK_CONTAINERS}\n{c.MARK_IMAGES}\n")
    assert (
        f.containers == [] and f.images == {} and f.live("web") is None and f.previous("web") == []
    )


def test_parse_facts_handles_nulls_and_untagged_images():
    line = json.dumps(
        {
            "id": "x",
            "name": "/web",
            "image": None,
            "image_id": None,
            "labels": None,
            "status": "exited",
            "running": False,
            "exit_code": None,
            "restarts": None,
            "health": "unhealthy",
            "ports": None,
            "ip": None,
        }
    )
    img = json.dumps({"id": IMG2, "tags": None, "digests": None})
    f = facts(line, images=(img,))
    o = f.containers[0]
    assert (o.image, o.image_id, o.labels, o.exit_code, o.restarts, o.ports, o.ip) == (
        "",
        "",
        {},
        0,
        0,
        {},
        "",
    )
    assert o.health == "unhealthy" and not o.running
    assert f.images == {}


def test_previous_versions_newest_first_and_by_logical_name():
    s = spec()
    f = facts(
        docker_line(s, "live"),
        docker_line(s, "old1", name="web_prev_old1", created="2024-01-01T00:00:01Z"),
        docker_line(s, "old3", name="web_prev_old3", created="2024-01-03T00:00:00Z"),
        docker_line(s, "old2", name="web_prev_old2", created="2024-01-02T00:00:00Z"),
        docker_line(spec(name="api"), "api1"),
    )
    assert [o.id for o in f.previous("web")] == ["old3", "old2", "old1"]
    assert f.live("web").id == "live" and f.live("api").id == "api1"
    assert f.previous("api") == []


@pytest.mark.parametrize(
    "ref,key",
    [
        ("web", "web:latest"),
        ("reg:5000/web", "reg:5000/web:latest"),
        ("reg:5000/web:v1", "reg:5000/web:v1"),
        ("library/web:1.2", "library/web:1.2"),
        ("web@sha256:abc", "web@sha256:abc"),
        # pinned by deploy --build: docker lists it in RepoDigests, without the tag
        ("reg:5000/demo/site:abc@sha256:12", "reg:5000/demo/site@sha256:12"),
    ],
)
def test_image_key(ref, key):
    assert image_key(ref) == key


# ---------------------------------------------------------------- plan_host


def row(
    desired: ContainerSpec,
    running_spec: ContainerSpec | None,
    *,
    image_id: str = IMG1,
    local_image: str | None = IMG1,
    status: str = "running",
    **labels: str,
) -> list:
    lines = (
        []
        if running_spec is None
        else [docker_line(running_spec, "cur", image_id=image_id, status=status, **labels)]
    )
    imgs = (image_line(desired.image, local_image),) if local_image else ()
    secrets = tuple(secret_lines(running_spec)) if running_spec else ()
    return plan_host((desired,), facts(*lines, images=imgs, secrets=secrets), nonce=NONCE)


CASES = [
    # (case, desired, running, extra kwargs, kind, changes)
    ("nothing runs", spec(), None, {}, "create", ("new container",)),
    ("same spec", spec(), spec(), {}, "noop", ()),
    (
        "new image tag",
        spec(image=V2),
        spec(),
        {"local_image": IMG2},
        "replace",
        (f"image: {V1} -> {V2}",),
    ),
    ("env value", spec(env=(("A", "2"),)), spec(), {}, "replace", ("env: A changed",)),
    (
        "env added and removed",
        spec(env=(("B", "1"),)),
        spec(),
        {},
        "replace",
        ("env: A, B changed",),
    ),
    (
        "port",
        spec(ports=(PortSpec(80, "tcp", 8081),)),
        spec(),
        {},
        "replace",
        ('ports: ["8080:80/tcp"] -> ["8081:80/tcp"]',),
    ),
    (
        "volume",
        spec(volumes=("/srv:/data",)),
        spec(),
        {},
        "replace",
        ('volumes: [] -> ["/srv:/data"]',),
    ),
    (
        "restart",
        spec(restart="always"),
        spec(),
        {},
        "replace",
        ("restart: unless-stopped -> always",),
    ),
    ("command", spec(command=("a", "b")), spec(), {}, "replace", ('command: null -> ["a", "b"]',)),
    ("stop_timeout", spec(stop_timeout=3), spec(), {}, "replace", ("stop_timeout: 10 -> 3",)),
    ("labels", spec(labels=(("k", "v"),)), spec(), {}, "replace", ('labels: {} -> {"k": "v"}',)),
    (
        "secret value",
        spec(secret_env=(("T", Secret("env:T", "new")),)),
        spec(secret_env=(("T", Secret("env:T", "old")),)),
        {},
        "replace",
        ("secret_env: T changed",),
    ),
    (
        "same secret value",
        spec(secret_env=(("T", Secret("env:T", "x")),)),
        spec(secret_env=(("T", Secret("env:T", "x")),)),
        {},
        "noop",
        (),
    ),
    (
        "secret added",
        spec(secret_env=(("T", Secret("env:T", "x")),)),
        spec(),
        {},
        "replace",
        ('secret_env: [] -> ["T"]',),
    ),
    (
        "same tag rebuilt",
        spec(),
        spec(),
        {"local_image": IMG2},
        "replace",
        (f"image: {V1} has a new build ({'1' * 12} -> {'2' * 12})",),
    ),
    ("image not local (check mode)", spec(), spec(), {"local_image": None}, "noop", ()),
    ("stopped", spec(), spec(), {"status": "exited"}, "replace", ("container is exited",)),
    ("retain/health only", spec(retain=4), spec(), {}, "noop", ()),
]


@pytest.mark.parametrize("case,desired,running,kw,kind,changes", CASES, ids=[c[0] for c in CASES])
def test_plan_host_table(case, desired, running, kw, kind, changes):
    (action,) = row(desired, running, **kw)
    assert action.kind == kind
    assert action.changes == changes
    assert action.changed == (kind != "noop")
    assert action.spec is desired
    assert (action.current is None) == (running is None)


def test_secret_values_never_appear_in_changes():
    desired = spec(secret_env=(("T", Secret("env:T", "NEWSECRET")),))
    running = spec(secret_env=(("T", Secret("env:T", "OLDSECRET")),), env=(("A", "2"),))
    (action,) = row(desired, running)
    text = " ".join(action.changes)
    assert "NEWSECRET" not in text and "OLDSECRET" not in text
    assert action.changes == ("env: A changed", "secret_env: T changed")


def test_force_replaces_an_unchanged_container():
    (action,) = plan_host((spec(),), facts(docker_line(spec(), "cur")), force=True)
    assert action.kind == "replace" and action.changes == ("--force",)
    (action,) = plan_host((spec(),), facts(), force=True)
    assert action.kind == "create"


def test_unmanaged_label_replaces():
    (action,) = row(spec(), spec(), **{"deployer.managed": "false"})
    assert action.kind == "replace" and "container not managed by deployer" in action.changes


def test_several_containers_planned_in_order():
    web, api = spec(), spec(name="api", ports=())
    f = facts(docker_line(web, "w1"))
    actions = plan_host((web, api), f)
    assert [(a.spec.name, a.kind) for a in actions] == [("web", "noop"), ("api", "create")]


def test_only_live_container_counts_not_a_retained_one():
    f = facts(docker_line(spec(), "old", name="web_prev_old"))
    (action,) = plan_host((spec(),), f)
    assert action.kind == "create"


def test_diff_with_a_broken_spec_label():
    o = Observed("x", "web", V1, IMG1, labels={c.LABEL_SPEC: "{not json"})
    lines = diff(spec(), o)
    assert f"image: null -> {V1}" in lines
    # every field is shown as new, but for command, whose absence reads as null on both sides
    assert [line.split(":")[0] for line in lines] == [
        k for k in c.spec_public(spec()) if k != "command"
    ]


def test_diff_shortens_long_values():
    long_env = spec(command=tuple(f"arg{i}" for i in range(40)))
    (line,) = diff(long_env, facts(docker_line(spec(), "x")).live("web"))
    assert line.startswith("command: null -> [") and line.endswith("...") and len(line) < 120


# ---------------------------------------------------------------- to_prune


def history(n: int) -> Facts:
    s = spec()
    lines = [docker_line(s, "live")]
    lines += [
        docker_line(s, f"old{i}", name=f"web_prev_old{i}", created=f"2024-01-0{i}T00:00:00Z")
        for i in range(1, n + 1)
    ]
    return facts(*lines)


@pytest.mark.parametrize(
    "retain,n,keep_extra,exclude,expected",
    [
        (1, 0, None, None, []),
        (1, 1, None, None, []),
        (1, 3, None, None, ["old2", "old1"]),  # newest (old3) kept
        (2, 3, None, None, ["old1"]),
        (0, 2, None, None, ["old2", "old1"]),
        (1, 2, "live", None, ["old2", "old1"]),  # just retired: now the newest retained
        (2, 2, "live", None, ["old1"]),
        (1, 2, "old2", None, ["old1"]),  # keep_extra already among them: no double
        (1, 3, "live", "old3", ["old2", "old1"]),  # rollback: old3 is live again
        (1, 3, None, "old3", ["old1"]),
    ],
)
def test_to_prune(retain, n, keep_extra, exclude, expected):
    assert (
        to_prune(spec(retain=retain), history(n), keep_extra=keep_extra, exclude=exclude)
        == expected
    )


# ---------------------------------------------------------------- plan_rollback


def rollback_facts() -> Facts:
    v1, v2, v3 = spec(), spec(image=V2), spec(image="reg:5000/demo/web:v3")
    return facts(
        docker_line(v3, "ccc333", image_id="sha256:" + "3" * 64),
        docker_line(
            v2, "bbb222", name="web_prev_bbb222", image_id=IMG2, created="2024-01-02T00:00:00Z"
        ),
        docker_line(
            v1, "aaa111", name="web_prev_aaa111", image_id=IMG1, created="2024-01-01T00:00:00Z"
        ),
    )


@pytest.mark.parametrize(
    "to,target",
    [
        (None, "bbb222"),  # the newest retained version
        ("v1", "aaa111"),  # by tag
        (V1, "aaa111"),  # by image reference
        ("aaa1", "aaa111"),  # by container id prefix
        ("2222", "bbb222"),  # by image id prefix
        ("sha256:1111", None),  # not a prefix form we accept -> nothing
        ("v9", None),
    ],
)
def test_plan_rollback(to, target):
    (action,) = plan_rollback((spec(),), rollback_facts(), to)
    if target is None:
        assert action.kind == "noop" and action.target is None
        assert action.changes == (f"no retained version matching {to!r}",)
    else:
        assert action.kind == "rollback" and action.target.id == target
        assert action.current.id == "ccc333"
        assert action.changes == (f"image: reg:5000/demo/web:v3 -> {action.target.image}",)


def test_plan_rollback_without_history():
    (action,) = plan_rollback((spec(),), facts(docker_line(spec(), "live")), None)
    assert action.kind == "noop" and action.changes == ("no retained previous version",)
    assert action.current.id == "live"


def test_plan_rollback_with_nothing_live():
    f = facts(docker_line(spec(), "old", name="web_prev_old"))
    (action,) = plan_rollback((spec(),), f, None)
    assert action.kind == "rollback" and action.current is None and action.target.id == "old"
    assert action.changes == (f"image: (none) -> {V1}",)


def test_parse_facts_keeps_images_by_id_and_spec_tags_first():
    from deployer.docker.facts import parse_facts

    out = "\n".join(
        [
            "--deployer-containers--",
            "--deployer-images--",
            '{"id":"sha256:new","tags":["r/a:1"],"digests":["r/a@sha256:d1"]}',
            '{"id":"sha256:old","tags":["r/a:1"],"digests":["r/a@sha256:d0"]}',
        ]
    )
    facts = parse_facts(out)
    assert facts.images["r/a:1"].id == "sha256:new"  # the spec's image, listed first, wins its tag
    assert facts.by_id["sha256:old"].digest == "sha256:d0"
    assert facts.by_id["sha256:new"].digest == "sha256:d1"


def test_a_new_version_never_switched_to_is_no_retained_version():
    """A proxied new version that passed its gate but was never switched to (the controller
    died in between) keeps its temporary name `web_next_<attempt>`: it was counted as the
    newest retained version, so `rollback` would pick an unproven, unrouted container and
    `retain` pruned a real previous version to keep it (review of proxy mode, defect 8)."""
    s = spec()
    f = facts(
        docker_line(s, "live"),
        docker_line(s, "old1", name="web_prev_old1", created="2024-01-01T00:00:01Z"),
        docker_line(s, "next", name="web_next_abc-1", created="2024-01-05T00:00:00Z"),
    )
    assert [o.id for o in f.previous("web")] == ["old1"]
    assert to_prune(s, f) == []  # neither pruned: it may still be routed


def test_a_version_pinned_by_deploy_build_is_found_by_its_tag_and_runs_what_is_wanted():
    """rollback --to TAG took the digest's hex for the tag of `repo:tag@sha256:...`, and
    health called every built container degraded (review 2, findings 2 and 8)."""
    from deployer.model import same_image
    from deployer.plan import _matches

    pinned = "reg:5000/site:0123456789ab@sha256:" + "e" * 64
    c = Observed("c1", "site_prev_c1", pinned, "sha256:i", {}, logical="site")
    assert _matches(c, "0123456789ab") and _matches(c, "reg:5000/site:0123456789ab")
    assert same_image(pinned, "reg:5000/site") and same_image(pinned, "reg:5000/site:0123456789ab")
    assert not same_image(pinned, "reg:5000/site:other") and not same_image(pinned, "reg:5000/web")
    assert not same_image("reg:5000/site:v1", "reg:5000/site:v2")
