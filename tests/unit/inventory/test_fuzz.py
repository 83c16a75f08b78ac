"""Random YAML and INI into the inventory loader: only ConfigError may come out, never a
crash. The playbook loader's fuzz test (tests/unit/config/test_fuzz.py) uses the same
random documents."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployer.errors import ConfigError
from deployer.inventory import load_inventory

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "web",
            "all",
            "h1",
            "80",
            "8080:80",
            "{{ x }}",
            "{{",
            "nginx",
            "30%",
            "1m",
            "~x",
            "a:!b",
            "",
        ]
    ),
    st.text(max_size=8),
)
keys = st.sampled_from(
    [
        "hosts",
        "vars",
        "children",
        "name",
        "image",
        "ports",
        "containers",
        "env",
        "health",
        "http",
        "serial",
        "registry",
        "secret_env",
        "port",
        "timeout",
        "h1",
        "web",
        "all",
    ]
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def yaml_text(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


@SETTINGS
@given(documents)
def test_random_inventories(tmp_path_factory: object, data: object) -> None:
    path = Path(str(tmp_path_factory.mktemp("inv"))) / "inv.yml"  # type: ignore[attr-defined]
    path.write_text(yaml_text(data))
    try:
        inv = load_inventory([str(path)])
        for host in inv.hosts:
            inv.host_conn(host)
    except ConfigError as err:
        assert err.problems


@SETTINGS
@given(st.text(max_size=60))
def test_random_ini(tmp_path_factory: object, ini: str) -> None:
    path = Path(str(tmp_path_factory.mktemp("ini"))) / "random.ini"  # type: ignore[attr-defined]
    path.write_text(ini)
    try:
        load_inventory([str(path)])
    except ConfigError as err:
        assert err.problems
