from __future__ import annotations

from collections.abc import Callable

import pytest

from deployer.config import load_playbook, parse_extra_vars
from deployer.inventory import Inventory, load_inventory
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]

INVENTORY = """
all:
  vars:
    tag: v1
    registry: reg.example.com
  children:
    web:
      hosts:
        h1: {http_port: 8080}
        h2: {http_port: 8081}
    db:
      hosts:
        d1:
"""


@pytest.fixture
def inv(write: Write) -> Inventory:
    return load_inventory([write("inv.yml", INVENTORY)])


def problems(write: Write, inv: Inventory, text: str, **kw: object) -> tuple[str, list[str]]:
    path = write("play.yml", text)
    return path, problems_of(lambda: load_playbook(path, inv, **kw))  # type: ignore[arg-type]


def test_a_full_play_maps_to_the_model(
    write: Write, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PW", "p@ss 'w0rd'")
    write("pw.txt", "from-file\n")
    path = write(
        "play.yml",
        """
        - name: "deploy {{ tag }}"
          hosts: web
          serial: [1, "30%"]
          max_fail_percentage: 25
          vars: {image: "{{ registry }}/app:{{ tag }}"}
          registry: {server: "{{ registry }}", username: bot, password_file: pw.txt}
          containers:
            - name: app
              image: "{{ image }}"
              ports: ["{{ http_port }}:80", "127.0.0.1::9000", "5000-5001:6000-6001/udp"]
              env: {A: "x; $(rm -rf /) 'q'", N: 3}
              secret_env: {DB_PASSWORD: {env: DB_PW}}
              volumes: ["/srv:/data:ro"]
              command: "nginx -g 'daemon off;'"
              labels: {team: web}
              stop_timeout: 30
              retain: 3
              health: {http: {port: 80, path: /health, status: 204}, timeout: 2m, interval: 500ms}
        """,
    )
    book = load_playbook(path, inv, ["tag=v2"])
    (play,) = book.plays
    assert play.name == "deploy v2" and play.serial == (1, "30%") and play.max_fail_percentage == 25
    assert play.source == f"{path}:1"
    assert [h.name for h in play.hosts] == ["h1", "h2"]
    assert play.registry and play.registry.server == "reg.example.com"
    assert play.registry.password and play.registry.password.reveal() == "from-file"
    (app,) = play.containers["h2"]
    assert app.image == "reg.example.com/app:v2"  # -e beats inventory vars
    assert [p.to_docker() for p in app.ports] == [
        "8081:80/tcp",
        "127.0.0.1::9000/tcp",
        "5000:6000/udp",
        "5001:6001/udp",
    ]
    assert app.env == (("A", "x; $(rm -rf /) 'q'"), ("N", "3"))
    assert app.secret_env[0][0] == "DB_PASSWORD" and app.secret_env[0][1].reveal() == "p@ss 'w0rd'"
    assert app.secret_env[0][1].source == "env:DB_PW" and "w0rd" not in repr(book)
    assert app.command == ("nginx", "-g", "daemon off;")
    assert (app.volumes, app.labels, app.stop_timeout, app.retain) == (
        ("/srv:/data:ro",),
        (("team", "web"),),
        30,
        3,
    )
    assert (
        app.health.kind,
        app.health.path,
        app.health.status,
        app.health.timeout,
        app.health.interval,
    ) == (
        "http",
        "/health",
        204,
        120.0,
        0.5,
    )


def test_defaults(write: Write, inv: Inventory) -> None:
    path = write("p.yml", "- hosts: db\n  containers:\n    - {name: db, image: postgres:16}\n")
    (play,) = load_playbook(path, inv).plays
    (db,) = play.containers["d1"]
    assert (db.restart, db.stop_timeout, db.retain, db.health.kind, play.serial, play.registry) == (
        "unless-stopped",
        10,
        1,
        "none",
        (),
        None,
    )


def test_syntax_error_position(write: Write, inv: Inventory) -> None:
    path, probs = problems(write, inv, "- hosts: web\n  containers: [\n")
    assert len(probs) == 1 and probs[0].startswith(f"{path}:3:1: (top): YAML syntax error")


def test_unknown_keys_with_did_you_mean(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          serail: 2
          containers:
            - name: web
              image: nginx
              enviroment: {A: 1}
              health: {http: {port: 80, paht: /}}
        """,
    )
    assert f"{path}:2:3: plays[0].serail: unknown key 'serail' (did you mean 'serial'?)" in probs
    assert (
        f"{path}:6:7: plays[0].containers[0].enviroment: unknown key 'enviroment' (did you mean 'environment'?)"
        not in probs
    )
    assert has_problem(probs, f"{path}:6:7: plays[0].containers[0].enviroment: unknown key")
    assert has_problem(
        probs, f"{path}:7:33: plays[0].containers[0].health.http.paht:", "did you mean 'path'?"
    )


def test_wrong_types(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          vars: [1]
          containers:
            - name: web
              image: nginx
              ports: "80"
              env: [A]
              stop_timeout: soon
              command: {a: 1}
        - just a string
        """,
    )
    assert has_problem(probs, f"{path}:2:9: plays[0].vars: vars must be a mapping")
    assert has_problem(probs, f"{path}:6:14: plays[0].containers[0].ports: ports must be a list")
    assert has_problem(probs, f"{path}:7:12: plays[0].containers[0].env: env must be a mapping")
    assert has_problem(
        probs,
        f"{path}:8:21: plays[0].containers[0].stop_timeout: stop_timeout must be a whole number",
    )
    assert has_problem(
        probs, f"{path}:9:16: plays[0].containers[0].command: command must be a string or a list"
    )
    assert has_problem(probs, f"{path}:10:3: plays[1]: a play must be a mapping")


@pytest.mark.parametrize(
    "spec, text",
    [
        (":80", "a port number is missing"),
        ("1000-1010:2000-2002", "don't match in length"),
        ("0.0.0.0:1000:2000:tcp", "Invalid port"),
        ("80/icmp", "protocol must be tcp, udp or sctp"),
        ("70000:80", "out of range"),
        ("0:80", "out of range"),
        ("foo:80:80", "Invalid port"),
        ("90-80", "the range is empty"),
    ],
)
def test_bad_port_specs(write: Write, inv: Inventory, spec: str, text: str) -> None:
    path, probs = problems(
        write,
        inv,
        f"- hosts: web\n  containers:\n    - name: web\n      image: nginx\n      ports: ['{spec}']\n",
    )
    assert has_problem(
        probs, f"{path}:5:15: plays[0].containers[0].ports[0]: invalid port spec", text
    )


@pytest.mark.parametrize(
    "image", ["Nginx", "nginx:", "reg:5000/", "a b", "nginx@sha256:abc", "-x/y", ""]
)
def test_invalid_image_references(write: Write, inv: Inventory, image: str) -> None:
    path, probs = problems(
        write, inv, f"- hosts: web\n  containers:\n    - name: web\n      image: '{image}'\n"
    )
    assert has_problem(probs, f"{path}:4:14: plays[0].containers[0].image:")


def test_duplicate_names_and_ports_on_a_host(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          containers:
            - {name: web, image: nginx, ports: ["8080:80"]}
            - {name: web, image: nginx}
            - {name: api, image: nginx, ports: ["127.0.0.1:8080:81"]}
        - hosts: h1
          containers:
            - {name: other, image: nginx, ports: ["8080:82"]}
            - {name: udp, image: nginx, ports: ["8080:82/udp"]}
        """,
    )
    assert has_problem(
        probs,
        f"{path}:4:14: plays[0].containers[1].name: two containers named 'web' on one host (the other on line 3)",
    )
    assert has_problem(
        probs,
        f"{path}:5:40: plays[0].containers[2].ports:",
        "8080/tcp is bound by both 'web' (line 3) and 'api'",
        "on hosts h1, h2",
    )
    assert has_problem(
        probs,
        f"{path}:8:42: plays[1].containers[0].ports:",
        "'web' (line 3) and 'other'",
        "(on host h1)",
    )
    assert not has_problem(probs, "'udp'")


def test_patterns_that_match_nothing(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write, inv, "- hosts: wbe\n  containers:\n    - {name: x1, image: nginx}\n"
    )
    assert probs == [
        f"{path}:1:10: plays[0].hosts: pattern 'wbe': 'wbe' matches no group or host (did you mean 'web'?)"
    ]


def test_undefined_variables_per_host(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        "- hosts: all\n  containers:\n    - name: web\n      image: 'nginx:{{ tga }}'\n      ports: ['{{ http_port }}:80']\n",
    )
    assert (
        f"{path}:4:14: plays[0].containers[0].image: undefined variable 'tga' (did you mean 'tag'?) (on hosts h1, h2, d1)"
        in probs
    )
    assert (
        f"{path}:5:15: plays[0].containers[0].ports[0]: undefined variable 'http_port' (on host d1)"
        in probs
    )


def test_bad_durations_percentages_serial(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          serial: [0, "150%"]
          max_fail_percentage: "x%"
          containers:
            - name: web
              image: nginx
              health: {tcp: {port: 80}, timeout: 10 minutes, interval: -1s}
        """,
    )
    assert has_problem(probs, f"{path}:2:11: plays[0].serial: invalid serial 0")
    assert has_problem(probs, f"{path}:3:24: plays[0].max_fail_percentage: invalid percentage 'x%'")
    assert has_problem(
        probs, f"{path}:7:42: plays[0].containers[0].health.timeout: invalid duration '10 minutes'"
    )
    assert has_problem(
        probs, f"{path}:7:64: plays[0].containers[0].health.interval: invalid duration '-1s'"
    )


def test_secrets_missing_inline_multiline(
    write: Write, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    monkeypatch.setenv("MULTI", "a\nb")
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          registry: {username: u, password: hunter2}
          containers:
            - name: web
              image: nginx
              secret_env:
                A: {env: NOPE_UNSET}
                B: {file: missing.txt}
                C: inline-value
                D: {env: MULTI}
        - hosts: db
          registry: {username: u, password_env: NOPE_UNSET}
          containers: [{name: db, image: postgres}]
        """,
    )
    assert has_problem(
        probs, f"{path}:2:27: plays[0].registry.password: never put a password in a playbook"
    )
    assert has_problem(
        probs, f"{path}:7:12: plays[0].containers[0].secret_env.A:", "NOPE_UNSET is not set"
    )
    assert has_problem(
        probs, f"{path}:8:12: plays[0].containers[0].secret_env.B:", "missing.txt does not exist"
    )
    assert has_problem(
        probs, f"{path}:9:12: plays[0].containers[0].secret_env.C:", "never the value itself"
    )
    assert has_problem(probs, f"{path}:10:12: plays[0].containers[0].secret_env.D:", "line break")
    assert has_problem(
        probs, f"{path}:12:41: plays[1].registry.password_env:", "NOPE_UNSET is not set"
    )
    assert not has_problem(probs, "hunter2")


def test_names_env_restart_health_rules(write: Write, inv: Inventory) -> None:
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          containers:
            - name: -bad
              image: nginx
              env: {"A=B": 1, OK: true}
              restart: sometimes
              health: {http: {port: 80}, tcp: {port: 80}}
        """,
    )
    assert has_problem(
        probs, f"{path}:3:13: plays[0].containers[0].name: container name '-bad' is invalid"
    )
    assert has_problem(probs, f"{path}:5:13:", "invalid name 'A=B'")
    assert has_problem(probs, f"{path}:5:27: plays[0].containers[0].env.OK:", "quote it: 'true'")
    assert has_problem(probs, f"{path}:6:16: plays[0].containers[0].restart: restart must be")
    assert has_problem(
        probs, f"{path}:7:15: plays[0].containers[0].health:", "exactly one of http, tcp or docker"
    )


def test_all_problems_reported_together(write: Write, inv: Inventory) -> None:
    _, probs = problems(
        write,
        inv,
        "- hosts: nope\n  bogus: 1\n  containers:\n    - {name: x!, image: UP, ports: [':1']}\n",
        extra_vars=["bad item"],
    )
    assert len(probs) >= 5


def test_limit(write: Write, inv: Inventory) -> None:
    path = write("p.yml", "- hosts: all\n  containers: [{name: web, image: nginx}]\n")
    (play,) = load_playbook(path, inv, limit="h2,d1").plays
    assert [h.name for h in play.hosts] == ["h2", "d1"] and set(play.containers) == {"h2", "d1"}
    assert has_problem(problems_of(lambda: load_playbook(path, inv, limit="zz")), "--limit 'zz'")


def test_extra_vars(write: Write) -> None:
    f = write("x.yml", "a: 1\nb: [2]\n")
    assert parse_extra_vars(["x=1 y='two words'", f"@{f}", '{"c": 3}']) == {
        "x": "1",
        "y": "two words",
        "a": 1,
        "b": [2],
        "c": 3,
    }
    assert has_problem(problems_of(lambda: parse_extra_vars(["novalue"])), "expected key=value")
    assert has_problem(problems_of(lambda: parse_extra_vars(["@/no/file.yml"])), "cannot read")


def test_hostile_playbook_files(write: Write, inv: Inventory, tmp_path: object) -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    for text in [bomb, "[" * 10000, "- hosts: web\n  containers:\n" + "  " * 100 + "- x\n"]:
        path = write("h.yml", text)
        assert problems_of(lambda p=path: load_playbook(p, inv))


def test_two_containers_with_one_proxy_route_on_a_host(write: Write, inv: Inventory) -> None:
    """The second route never got a request, silently (review of proxy mode, defect 9)."""
    path, probs = problems(
        write,
        inv,
        """
        - hosts: web
          containers:
            - {name: web, image: nginx, proxy: {port: 80, path: /api}}
            - {name: api, image: nginx, proxy: {port: 81, path: /api}}
            - {name: www, image: nginx, proxy: {port: 81, host: a.example, path: /api}}
        """,
    )
    assert has_problem(
        probs,
        f"{path}:4:40: plays[0].containers[1].proxy: two containers behind the proxy with host"
        " (any) and path /api on one host (the other on line 3)",
    )
    assert len([p for p in probs if "two containers behind the proxy" in str(p)]) == 1, probs


def test_an_unquoted_base60_number_in_a_playbook_is_an_error(write: Write, inv: Inventory) -> None:
    """YAML 1.1 reads `22:22` as 1342 (as Ansible does): `ports: [22:22]` published port
    1342 without a word; `user: 33:33` ran as uid 2013."""
    path, probs = problems(
        write,
        inv,
        "- hosts: web\n  containers:\n    - {name: web, image: nginx, ports: [22:22, '80:80']}\n",
    )
    assert has_problem(probs, f"{path}:3:41:", "22:22 without quotes is a base-60 number", "(1342)")
    assert len(probs) == 1, probs
