"""The playbook -> Swarm service spec mapping (docker/swarm_spec.py): pure, table-like."""

from __future__ import annotations

import json

from deployer.docker import swarm_spec as ss
from deployer.model import ContainerSpec, HealthSpec, PortSpec, Secret, SwarmSpec

SECRET = "hunter2-value"


def spec(**kw: object) -> ContainerSpec:
    base: dict[str, object] = {
        "name": "web",
        "image": "reg:5000/app:2",
        "ports": (PortSpec(80, host_port=8080),),
        "env": (("GREETING", "hi"),),
        "secret_env": (("API_TOKEN", Secret("env:T", SECRET)),),
        "volumes": ("/srv/data:/data:ro", "cache:/cache", "/scratch"),
        "labels": (("team", "a"),),
        "stop_timeout": 3,
        "restart": "on-failure:4",
        "health": HealthSpec(kind="http", port=80, path="/healthz", timeout=5.0, interval=0.5),
        "swarm": SwarmSpec(replicas=4, publish="host", endpoint_mode="dnsrr"),
    }
    base.update(kw)
    return ContainerSpec(**base)  # type: ignore[arg-type]


REFS = (ss.SecretRef("API_TOKEN", "web_API_TOKEN_ab12", "sid1"),)
IMAGE = ss.ImageConfig(entrypoint=("/entry",), cmd=("serve", "--port", "80"))


def build(s: ContainerSpec, serial: tuple[int | str, ...] = (1,), max_fail: float | None = 25.0):
    return ss.service_spec(s, serial, max_fail, REFS, 4, IMAGE)


def test_the_whole_mapping() -> None:
    out = build(spec())
    c = out["TaskTemplate"]["ContainerSpec"]
    assert out["Name"] == "web"
    assert out["Mode"] == {"Replicated": {"Replicas": 4}}
    assert c["Image"] == "reg:5000/app:2"
    assert c["Env"] == ["GREETING=hi"]
    assert c["Labels"] == {"team": "a"}
    assert c["StopGracePeriod"] == 3 * ss.NS
    assert c["Mounts"] == [
        {"Type": "bind", "Source": "/srv/data", "Target": "/data", "ReadOnly": True},
        {"Type": "volume", "Source": "cache", "Target": "/cache", "ReadOnly": False},
        {"Type": "volume", "Target": "/scratch"},
    ]
    assert out["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 4}
    assert out["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host", "PublishedPort": 8080}
        ],
    }
    up = out["UpdateConfig"]
    assert up["Parallelism"] == 1 and up["FailureAction"] == "rollback"
    assert up["MaxFailureRatio"] == 0.25 and up["Order"] == "stop-first"
    assert out["RollbackConfig"]["FailureAction"] == "pause"
    hc = c["Healthcheck"]
    assert hc["Test"][0] == "CMD-SHELL" and "http://127.0.0.1:80/healthz" in hc["Test"][1]
    assert hc["StartPeriod"] == 5 * ss.NS and hc["Interval"] == ss.NS // 2


def test_secrets_are_files_and_never_in_env_labels_or_args() -> None:
    out = build(spec())
    c = out["TaskTemplate"]["ContainerSpec"]
    assert SECRET not in json.dumps(out)
    assert not any(e.startswith("API_TOKEN") for e in c["Env"])
    assert c["Secrets"] == [
        {
            "SecretID": "sid1",
            "SecretName": "web_API_TOKEN_ab12",
            "File": {"Name": "deployer_env_API_TOKEN", "UID": "0", "GID": "0", "Mode": 0o400},
        }
    ]
    # the wrapper exports the files, then runs the image's own entrypoint and command
    assert c["Command"][:2] == ["/bin/sh", "-c"] and 'exec "$@"' in c["Command"][2]
    assert c["Args"] == ["/entry", "serve", "--port", "80"]


def test_a_command_replaces_the_image_cmd_and_without_secrets_no_wrapper() -> None:
    out = ss.service_spec(spec(secret_env=(), command=("run", "x")), (), None, (), 4)
    c = out["TaskTemplate"]["ContainerSpec"]
    assert "Command" not in c and c["Args"] == ["run", "x"] and "Secrets" not in c
    wrapped = build(spec(command=("run", "x")))["TaskTemplate"]["ContainerSpec"]
    assert wrapped["Args"] == ["/entry", "run", "x"]


def test_start_first_only_where_ports_allow() -> None:
    assert ss.update_order(spec()) == "stop-first"  # host mode: the node's port is taken
    ingress = spec(swarm=SwarmSpec(publish="ingress"))
    assert ss.update_order(ingress) == "start-first"
    assert ss.update_order(spec(ports=())) == "start-first"


def test_serial_to_parallelism() -> None:
    assert ss.parallelism((), 10) == 0  # all at once, as host-by-host without serial
    assert ss.parallelism((2, 5), 10) == 2
    assert ss.parallelism(("30%",), 10) == 3
    assert ss.parallelism(("1%",), 10) == 1


def test_global_mode_and_restart_kinds() -> None:
    out = build(spec(swarm=SwarmSpec(mode="global")))
    assert out["Mode"] == {"Global": {}}
    assert ss.restart_policy("no") == {"Condition": "none"}
    assert ss.restart_policy("unless-stopped") == {"Condition": "any"}


def test_health_kinds() -> None:
    assert ss.healthcheck(HealthSpec(kind="docker")) is None  # the image's HEALTHCHECK
    assert ss.healthcheck(HealthSpec()) is None
    tcp = ss.healthcheck(HealthSpec(kind="tcp", port=5432))
    assert tcp is not None and tcp["Test"] == ["CMD-SHELL", "nc -z 127.0.0.1 5432"]
    odd = ss.healthcheck(HealthSpec(kind="http", port=80, path="/a b;rm -rf /"))
    assert odd is not None and "'http://127.0.0.1:80/a b;rm -rf /'" in odd["Test"][1]


def test_recorded_hash_is_stable_and_changes_with_the_spec_or_a_secret_name() -> None:
    one = build(spec())
    h, data = ss.recorded({"Spec": one})
    assert h == one["Labels"][ss.LABEL_HASH] and data["image"] == "reg:5000/app:2"
    assert build(spec())["Labels"][ss.LABEL_HASH] == h
    assert build(spec(image="reg:5000/app:3"))["Labels"][ss.LABEL_HASH] != h
    other = ss.service_spec(spec(), (1,), 25.0, (ss.SecretRef("API_TOKEN", "web_API_TOKEN_ff"),), 4)
    assert other["Labels"][ss.LABEL_HASH] != h
    assert ss.recorded({"Spec": {}}) == ("", {})


def test_diff_names_changed_fields_only() -> None:
    _, old = ss.recorded({"Spec": build(spec())})
    _, new = ss.recorded({"Spec": build(spec(image="reg:5000/app:3"))})
    lines = ss.diff(old, new)
    assert lines == ['image: "reg:5000/app:2" -> "reg:5000/app:3"']
