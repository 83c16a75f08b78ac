"""Build the demo images from examples/ and push them to both lab registries."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from deployer.errors import LabError
from deployer.lab.layout import REGISTRY_USER, LabHost, Layout
from deployer.lab.system import run

BUILDS: tuple[tuple[str, str, dict[str, str]], ...] = (  # (kind, example folder, build args)
    ("v1", "web", {"VERSION": "v1"}),
    ("v2", "web", {"VERSION": "v2"}),
    ("unhealthy", "unhealthy", {}),
    ("crash", "crash", {}),
)


def examples_dir() -> Path:
    here = Path(__file__).resolve().parents[2] / "examples"
    if not (here / "web" / "Dockerfile").exists():
        raise LabError(
            f"demo image sources not found at {here}; run deployer from its source checkout "
            "(pip install -e .)"
        )
    return here


def build_and_push(layout: Layout, builder: LabHost) -> None:
    """Build on one lab engine, push everywhere, then leave that engine bare again."""
    docker = ["docker", "-H", builder.docker_host]
    src = examples_dir()
    work = layout.dir / "build"
    shutil.rmtree(work, ignore_errors=True)
    refs: list[str] = []
    for kind, folder, args in BUILDS:
        ctx = work / kind
        shutil.copytree(src / folder, ctx)
        shutil.copy2("/bin/busybox", ctx / "busybox")
        plain, tls = layout.image(kind), layout.image(kind, layout.registry_tls)
        argv = [*docker, "build", "-q", "-t", plain, "-t", tls]
        for key, value in args.items():
            argv += ["--build-arg", f"{key}={value}"]
        run([*argv, str(ctx)], timeout=300)
        refs += [plain, tls]
    shutil.rmtree(work, ignore_errors=True)
    password = layout.password_file.read_text().strip()
    with tempfile.TemporaryDirectory(prefix="deployer-lab-login-") as cfg:
        env = {"DOCKER_CONFIG": cfg}
        run(
            [*docker, "login", "-u", REGISTRY_USER, "--password-stdin", layout.registry_tls],
            input=password,
            env=env,
        )
        for ref in refs:
            run([*docker, "push", "-q", ref], env=env, timeout=300)
    run([*docker, "rmi", "-f", *refs])
    run([*docker, "image", "prune", "-af"], check=False)
