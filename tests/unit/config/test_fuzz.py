"""Random YAML into the loaders: only ConfigError may come out, never a crash."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployer.config import load_inventory, load_playbook
from deployer.errors import ConfigError

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True),
    st.sampled_from(["web", "all", "h1", "80", "8080:80", "{{ x }}", "{{", "nginx", "30%", "1m", "~x", "a:!b", ""]),
    st.text(max_size=8),
)  # fmt: skip
keys = st.sampled_from(
    ["hosts", "vars", "children", "name", "image", "ports", "containers", "env", "health",
     "http", "serial", "registry", "secret_env", "port", "timeout", "h1", "web", "all"]
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


@SETTINGS
@given(documents)
def test_random_inventories(tmp_path_factory: object, data: object) -> None:
    path = Path(str(tmp_path_factory.mktemp("inv"))) / "inv.yml"  # type: ignore[attr-defined]
    path.write_text(_dump(data))
    try:
        inv = load_inventory([str(path)])
        for host in inv.hosts:
            inv.host_conn(host)
    except ConfigError as err:
        assert err.problems


@SETTINGS
@given(documents, st.text(max_size=60))
def test_random_playbooks_and_ini(tmp_path_factory: object, data: object, ini: str) -> None:
    folder = Path(str(tmp_path_factory.mktemp("pb")))  # type: ignore[attr-defined]
    (folder / "inv.ini").write_text("[web]\nh1 ansible_host=10.0.0.1\nh2\n")
    (folder / "play.yml").write_text(_dump([data]) if not isinstance(data, list) else _dump(data))
    (folder / "random.ini").write_text(ini)
    inv = load_inventory([str(folder / "inv.ini")])
    try:
        load_playbook(str(folder / "play.yml"), inv, ["x=1"])
    except ConfigError as err:
        assert err.problems
    try:
        load_inventory([str(folder / "random.ini")])
    except ConfigError as err:
        assert err.problems
