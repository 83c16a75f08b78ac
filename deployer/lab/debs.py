"""Debian packages as image material: downloaded once into a cache, unpacked, and a binary
copied into an image's root with exactly the libraries `ldd` lists for it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from deployer.errors import LabError
from deployer.lab.system import run

DEB_CACHE = Path("/var/cache/deployer-lab")


def cached_debs(packages: list[str]) -> list[Path]:
    """Debian 12's packages (e.g. caddy, nginx), each downloaded once: the package mirror is
    the one thing this machine reaches. A cached file is used only if `dpkg-deb --info`
    reads it; a new one is written atomically (never a half-written .deb)."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for package in packages:
        for deb in sorted(DEB_CACHE.glob(f"{package}_*.deb")):
            if run(["dpkg-deb", "--info", str(deb)], check=False).returncode == 0:
                found[package] = deb
                break
            deb.unlink()
    missing = [p for p in packages if p not in found]
    if missing:
        with tempfile.TemporaryDirectory(prefix="deployer-lab-deb-") as tmp:
            os.chmod(tmp, 0o777)  # apt's download user writes here
            run(["apt-get", "download", *missing], timeout=300, cwd=tmp)
            for package in missing:
                got = sorted(Path(tmp).glob(f"{package}_*.deb"))
                if not got:
                    raise LabError(f"apt-get download {package} fetched no package")
                cached = DEB_CACHE / got[0].name
                part = cached.with_name(f".{cached.name}.{os.getpid()}.part")  # labs in parallel
                shutil.copy2(got[0], part)
                os.replace(part, cached)
                found[package] = cached
    return [found[p] for p in packages]


def deb_version(deb: Path) -> str:
    """The package's version as dpkg says it (e.g. 1.22.1-9+deb12u11)."""
    return run(["dpkg-deb", "--field", str(deb), "Version"]).stdout.strip()


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: no epoch, no Debian revision, no +dfsg-like
    suffix. '1:1.35.0-4+deb12u1+b1' -> '1.35.0'; '1.22.1-9+deb12u11' -> '1.22.1'."""
    without_epoch = version.split(":", 1)[-1]
    match = re.match(r"[0-9]+(\.[0-9]+)*", without_epoch)
    if not match:
        raise LabError(f"no upstream version in {version!r}")
    return match.group(0)


def unpack(deb: Path, into: Path) -> None:
    run(["dpkg-deb", "-x", str(deb), str(into)])


def copy_with_libraries(binary: Path, root: Path, at: str) -> None:
    """Copy `binary` to root/at, and each library `ldd` lists for it to the path ldd prints
    (symlinks resolved): what it needs to run in an image without a base image."""
    dest = root / at.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    for lib in linked_libraries(binary):
        target = root / lib.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), target)


def linked_libraries(binary: Path) -> list[Path]:
    """The absolute paths `ldd` prints for a binary (libraries and the loader; not the
    vDSO, which has no file)."""
    return parse_ldd(run(["ldd", str(binary)]).stdout, binary.name)


def parse_ldd(out: str, name: str) -> list[Path]:
    paths = []
    for line in out.splitlines():
        words = line.split()
        if "=>" in words and "not" in words[2:3]:
            raise LabError(f"{name} needs {words[0]}, not found on this machine")
        path = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
        if path.startswith("/"):
            paths.append(Path(path))
    if not paths:
        raise LabError(f"ldd lists no libraries for {name}:\n{out}")
    return paths


def busybox_version(banner: str) -> str:
    """'BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.' -> '1.35.0'."""
    match = re.match(r"BusyBox v([0-9]+(?:\.[0-9]+)*)", banner.strip())
    if not match:
        raise LabError(f"not a BusyBox banner: {banner[:80]!r}")
    return match.group(1)
