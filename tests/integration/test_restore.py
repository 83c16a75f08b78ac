"""A replace that fails after the old version was stopped puts the old version back."""

from __future__ import annotations

import pytest
from test_deploy import container_id, deploy, env, image, serves  # noqa: F401

pytestmark = pytest.mark.lab


def test_docker_run_failing_after_the_stop_restores_the_previous_version(clean_lab, env) -> None:  # noqa: F811
    lab = clean_lab
    assert (r := deploy(lab, env, "web.yml", "--limit", "h1")).code == 0, r
    old = container_id(lab, "h1")
    # Something else on the host holds the port the new version wants.
    squat = lab.docker("h1", "run", "-d", "--name", "squatter", "-p", "8081:80", image(lab, "v1"))
    assert squat.returncode == 0, squat.stderr
    res = deploy(
        lab,
        env,
        "web.yml",
        "--limit",
        "h1",
        "-e",
        "port=8081",
        "-e",
        f"image={image(lab, 'v2')}",
        "-o",
        "json",
    )
    assert res.code == 3, res
    h1 = res.hosts()["h1"]
    assert h1["status"] == "failed"
    assert "could not start" in h1["reason"] and "rolled back" in h1["reason"], h1["reason"]
    assert "port is already allocated" in h1["containers"][0]["error"], h1["containers"][0]
    # the old container is back under its name, running, serving v1 on its port
    assert container_id(lab, "h1") == old
    assert serves(lab, "h1", "v1")
    names = lab.docker("h1", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == ["squatter", "web"], names
