"""Done-when: every playbook under playbooks/ validates against the lab and the examples."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deployer.config import load_playbook
from deployer.inventory import load_inventory
from deployer.inventory.conn import host_conn

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
LAB = Path(__file__).parent / "fixtures" / "lab.yml"


@pytest.fixture
def lab_inventory(tmp_path: Path) -> str:
    (tmp_path / "registry-password").write_text("s3cret\n")
    path = tmp_path / "lab.yml"
    path.write_text(LAB.read_text().replace("@DIR@", str(tmp_path)))
    return str(path)


def test_there_are_playbooks() -> None:
    names = {p.name for p in PLAYBOOKS}
    assert {"demo.yml", "demo-v2.yml"} <= names and len(names) >= 5


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_validates_against_lab(playbook: Path, lab_inventory: str) -> None:
    book = load_playbook(str(playbook), load_inventory([lab_inventory]))
    assert book.plays and all(play.hosts for play in book.plays)


@pytest.mark.parametrize("inventory", ["example.yml", "example.ini"])
@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_validates_against_examples(playbook: Path, inventory: str) -> None:
    load_playbook(str(playbook), load_inventory([str(ROOT / "inventories" / inventory)]))


def test_demo_is_v1_behind_the_proxy_with_http_health(lab_inventory: str) -> None:
    book = load_playbook(str(ROOT / "playbooks" / "demo.yml"), load_inventory([lab_inventory]))
    (play,) = book.plays
    assert [h.name for h in play.hosts] == ["h1", "h2", "h3"]
    (web,) = play.containers["h2"]
    assert web.image == "deployer/demo-web:v1"  # a Docker Hub name: the lab mirrors it
    assert web.ports == () and web.proxy is not None and web.proxy.port == 80
    assert (web.health.kind, web.health.port, web.health.path) == ("http", 80, "/")
    v2 = load_playbook(str(ROOT / "playbooks" / "demo-v2.yml"), load_inventory([lab_inventory]))
    assert v2.plays[0].containers["h1"][0].image == "deployer/demo-web:v2"


def test_private_registry_password_comes_from_the_file(lab_inventory: str) -> None:
    book = load_playbook(
        str(ROOT / "playbooks" / "private-registry.yml"), load_inventory([lab_inventory])
    )
    reg = book.plays[0].registry
    assert reg is not None and reg.server == "10.99.0.1:5443" and reg.username == "labuser"
    assert reg.password is not None and reg.password.reveal() == "s3cret"
    assert "s3cret" not in repr(book)


def test_lab_connections(lab_inventory: str) -> None:
    inv = load_inventory([lab_inventory])
    p1 = host_conn(inv, "p1")
    assert (p1.address, p1.user, p1.jump, p1.state_dir) == (
        "10.99.1.11",
        "root",
        "root@10.99.0.11:22",
        "/var/lib/deployer-lab",
    )
    assert p1.key_file and p1.key_file.endswith("id_ed25519")
    assert p1.known_hosts and p1.known_hosts[0].endswith("known_hosts")


@pytest.mark.skipif(
    importlib.util.find_spec("deployer.config.build") is None,
    reason="`build:` is not in this tree (issue 13's build and push)",
)
def test_the_site_example_validates(lab_inventory: str) -> None:
    """examples/site/site.yml: built from its own folder, pushed to lab_push_registry."""
    path = str(ROOT / "examples" / "site" / "site.yml")
    (play,) = load_playbook(path, load_inventory([lab_inventory])).plays
    (site,) = play.containers["h1"]
    assert site.build is not None and Path(site.build.context) == ROOT / "examples" / "site"
    assert site.build.dockerfile == "Dockerfile"
    assert site.image == "10.99.0.1:5443/deployer/site"
    assert play.registry is not None and play.registry.server == "10.99.0.1:5443"
