"""The lab's logins, in its own copies of /etc/passwd, shadow, group and sudoers.

Each host's sshd binds these over /etc in its own mount namespace (services.mount_script):
the machine's files never change, and `down` removes them with the lab's folder.

- PASSWORD_USER: a uid-0 login by password (the password-auth tests).
- DEPLOY_USER: in the group of the engines' sockets (docker), nothing more.
- OPS_USER: no docker group; may run anything with sudo, with its password.

Both of the latter log in with the lab's key (the one AuthorizedKeysFile), home /tmp
(each host's own).
"""

from __future__ import annotations

import grp
import os
import secrets
from pathlib import Path

from deployer.errors import LabError
from deployer.lab.layout import DEPLOY_USER, OPS_USER, PASSWORD_USER, Layout
from deployer.lab.system import run

FILES = ("passwd", "shadow", "group", "sudoers")
SOCKET_GROUP = "docker"  # dockerd's default group for its socket (-G)
FIRST_UID = 61000
SUDOERS = """# Written by `deployer lab up`: the sudoers of the lab's hosts only.
Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults !lecture
root ALL=(ALL:ALL) ALL
{ops} ALL=(ALL:ALL) ALL
"""


def make_users(layout: Layout) -> None:
    """Write the lab's passwd, shadow, group and sudoers copies and the two passwords."""
    passwd, shadow = Path("/etc/passwd").read_text(), Path("/etc/shadow").read_text()
    group = Path("/etc/group").read_text()
    taken = {line.split(":", 1)[0] for line in passwd.splitlines()}
    clash = [u for u in (PASSWORD_USER, DEPLOY_USER, OPS_USER) if u in taken]
    if clash:
        raise LabError(f"the machine already has a user named {clash[0]}: the lab needs that name")
    try:
        docker_gid = grp.getgrnam(SOCKET_GROUP).gr_gid
    except KeyError as err:
        raise LabError(
            f"no group {SOCKET_GROUP!r} on this machine (docker.io makes it): "
            "the lab's engines give their sockets to it"
        ) from err
    uids = {int(line.split(":")[2]) for line in passwd.splitlines() if line.count(":") >= 2}
    gids = {int(line.split(":")[2]) for line in group.splitlines() if line.count(":") >= 2}
    deploy_id = next(i for i in range(FIRST_UID, 65000) if i not in uids and i not in gids)
    ops_id = next(i for i in range(deploy_id + 1, 65000) if i not in uids and i not in gids)

    ssh_password = secrets.token_urlsafe(15)
    ops_password = secrets.token_urlsafe(15)
    write_private(layout.ssh_password_file, ssh_password + "\n")
    write_private(layout.ops_password_file, ops_password + "\n")
    layout.auth_dir.mkdir(mode=0o700, exist_ok=True)
    passwd += (
        f"{PASSWORD_USER}:x:0:0:deployer lab password login:/root:/bin/sh\n"
        f"{DEPLOY_USER}:x:{deploy_id}:{deploy_id}:deployer lab docker-group login:/tmp:/bin/sh\n"
        f"{OPS_USER}:x:{ops_id}:{ops_id}:deployer lab sudo login:/tmp:/bin/sh\n"
    )
    (layout.auth_dir / "passwd").write_text(passwd)
    shadow += (
        f"{PASSWORD_USER}:{sha512_crypt(ssh_password)}:19000:0:99999:7:::\n"
        f"{DEPLOY_USER}:*:19000:0:99999:7:::\n"
        f"{OPS_USER}:{sha512_crypt(ops_password)}:19000:0:99999:7:::\n"
    )
    write_private(layout.auth_dir / "shadow", shadow)
    lines = [_with_member(line, docker_gid, DEPLOY_USER) for line in group.splitlines()]
    lines += [f"{DEPLOY_USER}:x:{deploy_id}:", f"{OPS_USER}:x:{ops_id}:"]
    (layout.auth_dir / "group").write_text("\n".join(lines) + "\n")
    sudoers = layout.auth_dir / "sudoers"
    write_private(sudoers, SUDOERS.format(ops=OPS_USER))
    os.chmod(sudoers, 0o440)  # sudo refuses a sudoers file others may write


def _with_member(line: str, gid: int, user: str) -> str:
    parts = line.split(":")
    if len(parts) != 4 or parts[2] != str(gid):
        return line
    members = [m for m in parts[3].split(",") if m]
    return ":".join([*parts[:3], ",".join([*members, user])])


def sha512_crypt(password: str) -> str:
    """A shadow(5) SHA-512 hash: Python's crypt where it exists (gone in 3.13), else openssl."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
    except ImportError:
        return run(["openssl", "passwd", "-6", "-stdin"], input=password).stdout.strip()
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def state_dir_group() -> int:
    """The gid that owns the hosts' state folders (setgid, group-writable): the docker
    group's users deploy without sudo, as docs/playbook.md tells an admin to set up."""
    return grp.getgrnam(SOCKET_GROUP).gr_gid
