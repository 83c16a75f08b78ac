"""The lab's Docker Hub: names as a user writes them (`nginx:1.22`, `user/site:v1`), and
where the lab's mirror keeps them. Pure: no I/O.

Every lab engine runs with `--registry-mirror` set to a registry of the lab (the "hub"
registry, no login, read-only once seeded), so a Docker Hub name pulled on a lab host
comes from there, and a lookup of Docker Hub itself fails at once (the hosts have no
route out of the lab: deployer/lab/net.py).
"""

from __future__ import annotations

import re

from deployer.errors import LabError

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PATH = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")


def hub_tags(version: str) -> list[str]:
    """The tags Docker Hub's official images carry for a version: the full version, each
    shorter prefix of it, and latest. '1.22.1' -> ['1.22.1', '1.22', '1', 'latest']."""
    parts = version.split(".")
    if not version or not all(p.isdigit() for p in parts):
        raise LabError(f"not a version: {version!r}")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)] + ["latest"]


def fixed_tag(version: str) -> str:
    """The tag a playbook names: major.minor ('1.22.1' -> '1.22'), as users pin nginx."""
    return ".".join(version.split(".")[:2])


def repository(name: str) -> str:
    """The repository a Docker Hub name stands for, as a mirror is asked for it: one
    path component means an official image ('nginx' -> 'library/nginx')."""
    if "/" in name and ("." in name.split("/")[0] or ":" in name.split("/")[0]):
        raise LabError(f"{name!r} names a registry, not a Docker Hub repository")
    if not _PATH.fullmatch(name):
        raise LabError(f"not a Docker Hub repository name: {name!r}")
    return name if "/" in name else f"library/{name}"


def mirror_ref(registry: str, image: str) -> str:
    """Where the mirror at `registry` keeps a Docker Hub image 'NAME:TAG': the reference a
    push to it uses. ('nginx:1.22' -> 'REG/library/nginx:1.22')."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag or not _TAG.fullmatch(tag):
        raise LabError(f"{image!r}: a Docker Hub image needs NAME:TAG")
    return f"{registry}/{repository(name)}:{tag}"
