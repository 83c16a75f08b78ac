"""Build the lab's images from examples/ and push them: the demo images and the proxy to
the plain and the TLS registry, and by Docker Hub names to the lab's Docker Hub (the
hub registry, every engine's mirror): busybox, nginx and deployer/demo-*."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deployer.errors import LabError
from deployer.lab import hub
from deployer.lab.debs import (
    busybox_version,
    cached_debs,
    copy_with_libraries,
    deb_version,
    unpack,
    upstream_version,
)
from deployer.lab.layout import HUB_DEMO_IMAGES, REGISTRY_USER, LabHost, Layout
from deployer.lab.system import run

BUILDS: tuple[tuple[str, str, dict[str, str]], ...] = (  # (kind, example folder, build args)
    ("v1", "web", {"VERSION": "v1"}),
    ("v2", "web", {"VERSION": "v2"}),
    ("unhealthy", "unhealthy", {}),
    ("crash", "crash", {}),
)
PUSH_WORKERS = 4


def examples_dir() -> Path:
    here = Path(__file__).resolve().parents[2] / "examples"
    if not (here / "web" / "Dockerfile").exists():
        raise LabError(
            f"demo image sources not found at {here}; run deployer from its source checkout "
            "(pip install -e .)"
        )
    return here


def proxy_context(src: Path, ctx: Path) -> None:
    """The proxy image's build context: examples/proxy (Dockerfile, default config) and
    rootfs/ with caddy from Debian's package plus exactly the libraries `ldd` lists for
    it (libzstd, libc, the loader), each at the path `ldd` prints, symlinks resolved."""
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns("rootfs", "deb", "*.deb"))
    root, extracted = ctx / "rootfs", ctx / "deb"
    root.mkdir()
    (deb,) = cached_debs(["caddy"])
    unpack(deb, extracted)
    copy_with_libraries(extracted / "usr" / "bin" / "caddy", root, "/usr/bin/caddy")
    for folder in ("config", "data", "srv"):
        (root / folder).mkdir()
    _sticky_tmp(root)
    shutil.rmtree(extracted)


def nginx_context(src: Path, ctx: Path) -> str:
    """The nginx image's build context (see examples/nginx/Dockerfile); returns nginx's
    version (e.g. 1.22.1)."""
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns("rootfs", "deb", "*.deb"))
    root, extracted = ctx / "rootfs", ctx / "deb"
    root.mkdir()
    nginx, common = cached_debs(["nginx", "nginx-common"])
    for deb in (nginx, common):
        unpack(deb, extracted)
    copy_with_libraries(extracted / "usr" / "sbin" / "nginx", root, "/usr/sbin/nginx")
    conf = root / "etc" / "nginx"
    (conf / "conf.d").mkdir(parents=True)
    for name in ("mime.types", "fastcgi_params", "scgi_params", "uwsgi_params"):
        shutil.copy2(extracted / "etc" / "nginx" / name, conf / name)
    html = root / "usr" / "share" / "nginx" / "html"
    html.mkdir(parents=True)
    shutil.copy2(extracted / "usr" / "share" / "nginx" / "html" / "index.html", html)
    _busybox_into(root)
    logs = root / "var" / "log" / "nginx"
    logs.mkdir(parents=True)
    (logs / "access.log").symlink_to("/dev/stdout")
    (logs / "error.log").symlink_to("/dev/stderr")
    for folder in ("var/lib/nginx", "var/cache/nginx", "run/lock"):
        (root / folder).mkdir(parents=True)
    (root / "var" / "run").symlink_to("../run")
    (root / "var" / "lock").symlink_to("../run/lock")
    _sticky_tmp(root)
    shutil.rmtree(extracted)
    return upstream_version(deb_version(nginx))


def busybox_context(src: Path, ctx: Path) -> str:
    """The busybox image's build context (see examples/busybox/Dockerfile); returns
    busybox's version (e.g. 1.35.0)."""
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns("rootfs"))
    root = ctx / "rootfs"
    _busybox_into(root)
    for folder in ("root", "home", "var"):
        (root / folder).mkdir()
    _sticky_tmp(root)
    return busybox_version(run(["/bin/busybox"], check=False).stdout)


def _busybox_into(root: Path) -> None:
    """The machine's static busybox (Debian's busybox-static) at /bin/busybox and a symlink
    per applet in /bin, as `busybox --install -s /bin` makes them."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", bin_dir / "busybox")
    for applet in run(["/bin/busybox", "--list"]).stdout.split():
        if applet != "busybox" and not (bin_dir / applet).exists():
            (bin_dir / applet).symlink_to("busybox")


def _sticky_tmp(root: Path) -> None:
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)  # mkdir's mode goes through the umask


def build_and_push(layout: Layout, builder: LabHost) -> dict[str, str]:
    """Build on one lab engine, push everywhere, then leave that engine bare again.
    Returns the base images the hub serves by their pinned Docker Hub names
    ({"nginx": "nginx:1.22", "busybox": "busybox:1.35"})."""
    docker = ["docker", "-H", builder.docker_host]
    src = examples_dir()
    work = layout.dir / "build"
    shutil.rmtree(work, ignore_errors=True)
    refs: list[str] = []

    def build(ctx: Path, tags: list[str], args: dict[str, str] | None = None) -> None:
        argv = [*docker, "build", "-q"]
        for tag in tags:
            argv += ["-t", tag]
        for key, value in (args or {}).items():
            argv += ["--build-arg", f"{key}={value}"]
        run([*argv, str(ctx)], timeout=300)
        refs.extend(tags)

    def on_hub(name: str, tags: list[str]) -> list[str]:
        return [hub.mirror_ref(layout.registry_hub, f"{name}:{tag}") for tag in tags]

    for kind, folder, args in BUILDS:
        ctx = work / kind
        shutil.copytree(src / folder, ctx)
        shutil.copy2("/bin/busybox", ctx / "busybox")
        hub_ref = hub.mirror_ref(layout.registry_hub, HUB_DEMO_IMAGES[kind])
        build(ctx, [layout.image(kind), layout.image(kind, layout.registry_tls), hub_ref], args)
    proxy_context(src / "proxy", work / "proxy")  # the lab's own caddy:2
    build(work / "proxy", [layout.image("proxy"), layout.image("proxy", layout.registry_tls)])
    nginx = nginx_context(src / "nginx", work / "nginx")
    build(work / "nginx", on_hub("nginx", hub.hub_tags(nginx)))
    busybox = busybox_context(src / "busybox", work / "busybox")
    build(work / "busybox", on_hub("busybox", hub.hub_tags(busybox)))
    shutil.rmtree(work, ignore_errors=True)
    _push(layout, docker, refs)
    run([*docker, "rmi", "-f", *refs])
    run([*docker, "image", "prune", "-af"], check=False)
    return {
        "nginx": f"nginx:{hub.fixed_tag(nginx)}",
        "busybox": f"busybox:{hub.fixed_tag(busybox)}",
    }


def _push_order(layout: Layout) -> Callable[[str], tuple[int, str]]:
    """The slowest pushes first (the TLS registry checks a password on every request), so
    the pool's workers end about together."""

    def key(repo: str) -> tuple[int, str]:
        return (0 if repo.startswith(layout.registry_tls + "/") else 1, repo)

    return key


def _push(layout: Layout, docker: list[str], refs: list[str]) -> None:
    """Push every repository with all its tags, a few at a time; the TLS registry with a
    throw-away login (the password on stdin)."""
    repositories = sorted({ref.rsplit(":", 1)[0] for ref in refs}, key=_push_order(layout))
    password = layout.password_file.read_text().strip()
    with tempfile.TemporaryDirectory(prefix="deployer-lab-login-") as cfg:
        env = {"DOCKER_CONFIG": cfg}
        run(
            [*docker, "login", "-u", REGISTRY_USER, "--password-stdin", layout.registry_tls],
            input=password,
            env=env,
        )

        def push(repo: str) -> None:
            run([*docker, "push", "-q", "--all-tags", repo], env=env, timeout=300)

        with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
            list(pool.map(push, repositories))
