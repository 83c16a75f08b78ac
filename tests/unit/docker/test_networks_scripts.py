"""docker/networks.py and the network flags of docker/commands.py (issue 12), the scripts run
on a real `sh` with a fake `docker` (test_proxy_scripts.Host)."""

from __future__ import annotations

from pathlib import Path

from test_proxy_scripts import NEW, Host

from deployer.docker import commands as c
from deployer.docker import networks as nets
from deployer.model import ContainerSpec, NetworkAttach, NetworkSpec, ProxySpec

BACKEND = NetworkSpec("backend", "bridge", (("com.docker.network.driver.mtu", "1400"),), True)


def test_the_first_network_goes_to_create_the_others_are_joined_before_the_start(
    tmp_path: Path,
) -> None:
    spec = ContainerSpec(
        name="app",
        image="nginx",
        networks=(NetworkAttach("front", ("www",)), NetworkAttach("backend", ("api", "v1"))),
    )
    argv = c.run_argv(spec, None, "t", "me", create_as="app_next_1")
    i = argv.index("--network")
    assert argv[i : i + 4] == ["--network", "front", "--network-alias", "www"]
    assert argv.count("--network") == 1
    host = Host(tmp_path, {"create *": f"echo {NEW}"})
    res = host.run(c.replace_script(spec, None, "t", "me", attempt="1"))
    assert res.returncode == 0, res.stderr
    calls = host.calls()
    connect = f"network connect --alias api --alias v1 backend {NEW}"
    assert calls.index(connect) < calls.index(f"start {NEW}")


def test_a_container_that_cannot_join_its_network_goes_and_nothing_starts(tmp_path: Path) -> None:
    spec = ContainerSpec(
        name="app", image="nginx", networks=(NetworkAttach("a"), NetworkAttach("b"))
    )
    host = Host(
        tmp_path,
        {
            "create *": f"echo {NEW}",
            "network connect b *": "echo 'network b not found' >&2; exit 1",
        },
    )
    res = host.run(c.replace_script(spec, None, "t", "me", attempt="1"))
    assert res.returncode == 1 and "network b not found" in res.stderr
    calls = host.calls()
    assert f"rm -f {NEW}" in calls and not any(x.startswith("start") for x in calls)


def test_a_proxied_container_is_created_on_the_proxy_network_and_joins_the_rest() -> None:
    spec = ContainerSpec(
        name="app", image="nginx", proxy=ProxySpec(80), networks=(NetworkAttach("backend"),)
    )
    argv = c.run_argv(spec, None, "t", "me", create_as="app_next_1")
    assert argv[argv.index("--network") + 1] == "deployer" and argv.count("--network") == 1
    assert c.connect_lines(spec)[0].startswith("docker network connect backend ")


def test_missing_networks_are_created_with_their_driver_and_options(tmp_path: Path) -> None:
    host = Host(
        tmp_path,
        {"network inspect front": "exit 0", "network inspect backend": "exit 1"},
    )
    res = host.run(nets.create_script([NetworkSpec("front"), BACKEND]))
    assert res.returncode == 0, res.stderr
    creates = [x for x in host.calls() if x.startswith("network create")]
    assert creates == [
        "network create --driver bridge --opt com.docker.network.driver.mtu=1400 --internal backend"
    ]


def test_a_network_made_meanwhile_by_another_run_is_fine(tmp_path: Path) -> None:
    made = tmp_path / "made"
    host = Host(
        tmp_path,
        {
            "network inspect a": f"[ -f {made} ]",
            "network create *": f": > {made}; echo 'network with name a already exists' >&2; exit 1",
        },
    )
    assert host.run(nets.create_script([NetworkSpec("a")])).returncode == 0


def test_a_network_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    host = Host(
        tmp_path,
        {"network inspect a": "exit 1", "network create *": "echo 'plugin not found' >&2; exit 1"},
    )
    res = host.run(nets.create_script([NetworkSpec("a", driver="weave")]))
    assert res.returncode == 1 and "plugin not found" in res.stderr


def test_an_external_network_is_never_created(tmp_path: Path) -> None:
    host = Host(tmp_path, {"network inspect shared": "exit 1"})
    res = host.run(nets.create_script([NetworkSpec("shared", external=True)]))
    assert res.returncode == 1 and "external" in res.stderr
    assert not any(x.startswith("network create") for x in host.calls())


def test_what_exists_is_read_from_the_prepare_output() -> None:
    out = (
        f"noise\n{nets.MARK_NETWORKS}\nbridge\tbridge\tfalse\t{{}}\n"
        'front\tbridge\ttrue\t{"com.docker.network.bridge.enable_icc":"false"}\n'
        "--deployer-images--\nbackend\tbridge\tfalse\tnull\n"
    )
    present = nets.parse_present(out)
    assert present == {
        "bridge": nets.Present("bridge", False, {}),
        "front": nets.Present("bridge", True, {"com.docker.network.bridge.enable_icc": "false"}),
    }
    todo = nets.missing([NetworkSpec("front"), BACKEND, NetworkSpec("x", external=True)], present)
    assert nets.upkeep(todo) == (
        "network backend: to be created (bridge, internal)",
        "network x: external, missing on this host",
    )


def test_a_network_that_exists_otherwise_is_a_clash_naming_each_difference() -> None:
    present = {
        "front": nets.Present("bridge", True, {}),
        "back": nets.Present("macvlan", False, {"com.docker.network.bridge.enable_icc": "false"}),
        "same": nets.Present("bridge", False, {"a": "1", "extra": "x"}),
        "ext": nets.Present("overlay", True, {}),
        "unsaid": nets.Present("overlay", False, {}),
    }
    declared = [
        NetworkSpec("front"),
        NetworkSpec(
            "back", options=(("com.docker.network.bridge.enable_icc", "true"),), driver_given=True
        ),
        NetworkSpec("same", options=(("a", "1"),)),  # options the play does not set may differ
        NetworkSpec("ext", external=True),  # taken as it is
        NetworkSpec("new"),  # missing: to be created, no clash
        NetworkSpec("unsaid"),  # no driver: written: the existing one's is not compared
    ]
    out = nets.clashes(declared, present)
    assert len(out) == 2, out
    assert out[0].startswith(
        "network front exists on this host otherwise: it is internal, the play says not."
    )
    assert "its driver is macvlan, the play says bridge" in out[1]
    assert "its option com.docker.network.bridge.enable_icc is false, the play says true" in out[1]
    assert "never recreates" in out[1] and "docker network rm" in out[1]
    assert "external: true" in out[1]


def test_the_listing_reads_only_the_plays_networks_and_a_missing_one_is_no_failure(
    tmp_path: Path,
) -> None:
    fmt = "{{.Name}}\t{{.Driver}}\t{{.Internal}}\t{{json .Options}}"
    host = Host(
        tmp_path,
        {
            f"network inspect --format {fmt} -- front gone": (
                "printf 'front\\tbridge\\tfalse\\t{}\\n'; "
                "echo 'Error: No such network: gone' >&2; exit 1"
            )
        },
    )
    script = "\n".join(nets.list_lines([NetworkSpec("front"), NetworkSpec("gone")]))
    res = host.run("set -e\n" + script + "\necho after")
    assert res.returncode == 0 and res.stdout.endswith("after\n"), res
    present = nets.parse_present(res.stdout)
    assert present == {"front": nets.Present("bridge", False, {})}
    assert nets.missing([NetworkSpec("front"), NetworkSpec("gone")], present) == [
        NetworkSpec("gone")
    ]
