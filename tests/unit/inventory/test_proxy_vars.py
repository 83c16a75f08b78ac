"""deployer_proxy_*: host variables parsed into HostConn.proxy (a ProxyHost)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.inventory import load_inventory
from deployer.model import HostConn, ProxyHost
from tests.unit.conftest import has_problem, problems_of

Write = Callable[[str, str], str]


def conn(write: Write, host_vars: str, name: str = "inv.yml") -> HostConn:
    return load_inventory([inventory(write, host_vars, name)]).host_conn("h1")


def inventory(write: Write, host_vars: str, name: str = "inv.yml") -> str:
    """An inventory of one host h1 whose variables are the lines HOST_VARS (from line 4 on)."""
    lines = "".join(f"      {line}\n" for line in host_vars.splitlines())
    return write(name, "all:\n  hosts:\n    h1:\n" + lines)


def problems(write: Write, host_vars: str) -> tuple[str, list[str]]:
    path = inventory(write, host_vars)
    return path, problems_of(lambda: load_inventory([path]).host_conn("h1"))


def test_defaults_without_any_proxy_variable(write: Write) -> None:
    proxy = conn(write, "ansible_host: 192.0.2.1").proxy
    assert proxy == ProxyHost(
        image="caddy:2", http_port=80, https_port=443, tls_cert=None, tls_key=None
    )


def test_every_variable_is_read(write: Write, tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "c.pem").write_text("cert\n")
    (tmp_path / "tls" / "k.pem").write_text("key\n")
    proxy = conn(
        write,
        "proxy_tag: '2.7'\n"
        "deployer_proxy_image: 'reg:5000/caddy:{{ proxy_tag }}'\n"
        "deployer_proxy_http_port: '8080'\n"
        "deployer_proxy_https_port: 8443\n"
        "deployer_proxy_tls_cert: tls/c.pem\n"  # relative to the inventory file
        f"deployer_proxy_tls_key: {tmp_path / 'tls' / 'k.pem'}\n",
    ).proxy
    assert proxy == ProxyHost(
        image="reg:5000/caddy:2.7",
        http_port=8080,
        https_port=8443,
        tls_cert=str(tmp_path / "tls" / "c.pem"),
        tls_key=str(tmp_path / "tls" / "k.pem"),
    )


def test_an_ini_inventory_gives_the_same(write: Write) -> None:
    path = write(
        "inv.ini",
        "[web]\nh1 deployer_proxy_http_port=8080 deployer_proxy_image=caddy:2.6\n",
    )
    proxy = load_inventory([path]).host_conn("h1").proxy
    assert (proxy.image, proxy.http_port, proxy.https_port) == ("caddy:2.6", 8080, 443)


@pytest.mark.parametrize("var", ["deployer_proxy_http_port", "deployer_proxy_https_port"])
@pytest.mark.parametrize("value", ["0", "65536", "http", "''", "true"])
def test_a_bad_port_names_the_variable_and_its_line(write: Write, var: str, value: str) -> None:
    path, found = problems(write, f"ansible_host: 192.0.2.1\n{var}: {value}")
    assert has_problem(found, f"{path}:5:7: {var}:", "port number 1-65535", "h1"), found
    assert len(found) == 1, found


def test_the_same_port_for_http_and_https_is_a_problem_with_tls(write: Write) -> None:
    write("tls/c.pem", "cert")
    write("tls/k.pem", "key")
    path, found = problems(
        write,
        "deployer_proxy_http_port: 8000\ndeployer_proxy_https_port: '8000'\n"
        "deployer_proxy_tls_cert: tls/c.pem\ndeployer_proxy_tls_key: tls/k.pem",
    )
    assert has_problem(found, f"{path}:5:7: deployer_proxy_https_port:", "must differ"), found


def test_the_https_port_does_not_matter_without_tls(write: Write) -> None:
    assert conn(write, "deployer_proxy_http_port: 443").proxy.http_port == 443


@pytest.mark.parametrize("image", ["'my image'", "'-v /:/host'", "'a\tb'"])
def test_a_bad_image_is_a_problem(write: Write, image: str) -> None:
    path, found = problems(write, f"deployer_proxy_image: {image}")
    assert has_problem(found, f"{path}:4:7: deployer_proxy_image:", "image reference"), found


def test_a_certificate_without_its_key_is_a_problem(write: Write, tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert\n")
    path, found = problems(write, "ansible_host: 192.0.2.1\ndeployer_proxy_tls_cert: c.pem")
    assert has_problem(found, f"{path}:5:7: deployer_proxy_tls_cert:", "needs its pair"), found


def test_a_key_without_its_certificate_is_a_problem(write: Write, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("key\n")
    path, found = problems(write, "deployer_proxy_tls_key: k.pem")
    assert has_problem(found, f"{path}:4:7: deployer_proxy_tls_key:", "needs its pair"), found


def test_a_missing_certificate_file_is_a_problem(write: Write, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("key\n")
    path, found = problems(
        write, "deployer_proxy_tls_cert: certs/nope.pem\ndeployer_proxy_tls_key: k.pem"
    )
    missing = tmp_path / "certs" / "nope.pem"
    assert has_problem(
        found, f"{path}:4:7: deployer_proxy_tls_cert:", f"no such file on the controller: {missing}"
    ), found
    assert not has_problem(found, "deployer_proxy_tls_key"), found


def test_a_folder_is_not_a_certificate_file(write: Write, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("key\n")
    (tmp_path / "dir.pem").mkdir()
    path, found = problems(write, "deployer_proxy_tls_cert: dir.pem\ndeployer_proxy_tls_key: k.pem")
    assert has_problem(found, f"{path}:4:7: deployer_proxy_tls_cert:", "no such file"), found


def test_a_template_error_in_a_proxy_variable_is_a_problem(write: Write) -> None:
    path, found = problems(write, "deployer_proxy_http_port: '{{ nope }}'")
    assert has_problem(found, f"{path}:4:7: deployer_proxy_http_port:", "nope"), found


def test_a_group_variable_is_reported_where_it_is_set(write: Write) -> None:
    path = write(
        "inv.yml",
        "all:\n  vars:\n    deployer_proxy_https_port: 99999\n  hosts:\n    h1:\n",
    )
    found = problems_of(lambda: load_inventory([path]).host_conn("h1"))
    assert has_problem(found, f"{path}:3:5: deployer_proxy_https_port:", "1-65535"), found
