"""Build the demo images from examples/ and push them to both lab registries."""

from __future__ import annotations

import os
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


DEB_CACHE = Path("/var/cache/deployer-lab")


def caddy_deb() -> Path:
    """Debian 12's caddy package (2.6.2), downloaded once: the package mirror is the one
    thing this machine reaches. A cached file is used only if `dpkg-deb --info` reads it."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    for deb in sorted(DEB_CACHE.glob("caddy_*.deb")):
        if run(["dpkg-deb", "--info", str(deb)], check=False).returncode == 0:
            return deb
        deb.unlink()
    with tempfile.TemporaryDirectory(prefix="deployer-lab-deb-") as tmp:
        os.chmod(tmp, 0o777)  # apt's download user writes here
        run(["apt-get", "download", "caddy"], timeout=300, cwd=tmp)
        got = sorted(Path(tmp).glob("caddy_*.deb"))
        if not got:
            raise LabError("apt-get download caddy fetched no package")
        cached = DEB_CACHE / got[0].name
        shutil.copy2(got[0], cached.with_suffix(".part"))
        os.replace(cached.with_suffix(".part"), cached)  # never a half-written .deb
        return cached


def proxy_context(src: Path, ctx: Path) -> None:
    """The proxy image's build context: examples/proxy (Dockerfile, default config) and
    rootfs/ with caddy from the Debian package plus exactly the libraries `ldd` lists for
    it (libzstd, libc, the loader), each at the path `ldd` prints, symlinks resolved."""
    shutil.copytree(src, ctx, ignore=shutil.ignore_patterns("rootfs", "deb", "*.deb"))
    root = ctx / "rootfs"
    extracted = ctx / "deb"
    root.mkdir()
    run(["dpkg-deb", "-x", str(caddy_deb()), str(extracted)])
    binary = extracted / "usr" / "bin" / "caddy"
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy2(binary, root / "usr" / "bin" / "caddy")
    for lib in linked_libraries(binary):
        dest = root / lib.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), dest)
    for folder in ("config", "data", "srv"):
        (root / folder).mkdir()
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)  # mkdir's mode goes through the umask
    shutil.rmtree(extracted)


def linked_libraries(binary: Path) -> list[Path]:
    """The absolute paths `ldd` prints for a binary (libraries and the loader; not the
    vDSO, which has no file)."""
    out = run(["ldd", str(binary)]).stdout
    paths = []
    for line in out.splitlines():
        words = line.split()
        if "=>" in words and "not" in words[2:3]:
            raise LabError(f"{binary.name} needs {words[0]}, not found on this machine")
        path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
        if path.startswith("/"):
            paths.append(Path(path))
    if not paths:
        raise LabError(f"ldd lists no libraries for {binary}:\n{out}")
    return paths


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
    ctx = work / "proxy"
    proxy_context(src / "proxy", ctx)  # the lab's own caddy:2 (no Docker Hub here)
    plain, tls = layout.image("proxy"), layout.image("proxy", layout.registry_tls)
    run([*docker, "build", "-q", "-t", plain, "-t", tls, str(ctx)], timeout=300)
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
