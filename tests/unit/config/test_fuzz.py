"""Random YAML into the playbook loader: only ConfigError may come out, never a crash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from deployer.config import load_playbook
from deployer.errors import ConfigError
from deployer.inventory import load_inventory
from tests.unit.inventory.test_fuzz import SETTINGS, documents, yaml_text


@SETTINGS
@given(documents)
def test_random_playbooks(tmp_path_factory: object, data: object) -> None:
    folder = Path(str(tmp_path_factory.mktemp("pb")))  # type: ignore[attr-defined]
    (folder / "inv.ini").write_text("[web]\nh1 ansible_host=10.0.0.1\nh2\n")
    (folder / "play.yml").write_text(yaml_text(data if isinstance(data, list) else [data]))
    inv = load_inventory([str(folder / "inv.ini")])
    try:
        load_playbook(str(folder / "play.yml"), inv, ["x=1"])
    except ConfigError as err:
        assert err.problems
