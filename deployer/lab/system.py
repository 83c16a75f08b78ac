"""Small wrappers over the machine: commands, prerequisites, processes, mounts."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from deployer.errors import EnvironmentProblem, LabError

APT_PACKAGES = (
    "docker.io openssh-server openssh-client docker-registry busybox-static "
    "iproute2 iptables util-linux curl openssl sudo"
)
APT_LINE = f"apt-get update && apt-get install -y {APT_PACKAGES}"

# binary -> where it must be (or None: anywhere on PATH)
REQUIRED = {
    "dockerd": None,
    "containerd": None,
    "docker": "/usr/bin/docker",
    "sshd": "/usr/sbin/sshd",
    "ssh-keygen": None,
    "docker-registry": None,
    "ip": None,
    "nsenter": None,
    "unshare": None,
    "iptables": None,
    "busybox": "/bin/busybox",
    "sudo": "/usr/bin/sudo",  # the lab's ops login becomes root with it
}


def check_prerequisites() -> None:
    if platform.system() != "Linux":
        raise EnvironmentProblem(
            "deployer lab needs Linux (network namespaces); this is " + platform.system()
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "deployer lab needs root (it creates network namespaces); run it with sudo or as root"
        )
    missing = []
    for name, path in REQUIRED.items():
        if path is not None:
            if not os.access(path, os.X_OK):
                missing.append(path)
        elif shutil.which(name) is None:
            missing.append(name)
    if missing:
        raise EnvironmentProblem(
            f"missing system programs: {', '.join(missing)}. Install them with:\n  {APT_LINE}"
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env} if env else None,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as err:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from err
    if check and proc.returncode != 0:
        raise LabError(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.strip()[-2000:]}"
        )
    return proc


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """Run argv in a named network namespace without ip-netns-exec's /sys remount."""
    return ["nsenter", f"--net=/var/run/netns/{netns}", *argv]


def spawn(argv: Sequence[str], log: Path) -> int:
    """Start a long-lived process detached from us; returns its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def wait_for(predicate: object, what: str, timeout: float = 30.0, log: Path | None = None) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise LabError(f"{what} did not come up within {timeout:.0f}s{tail}")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def pids_matching(needles: Iterable[str]) -> set[int]:
    """Processes whose command line mentions any needle (a path of ours)."""
    needles = [n for n in needles if n]
    found = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.add(int(entry.name))
    return found


def netns_pids(netns: str) -> set[int]:
    proc = run(["ip", "netns", "pids", netns], check=False)
    return {int(p) for p in proc.stdout.split() if p.isdigit()}


def kill_trees(roots: set[int], grace: float = 3.0) -> None:
    """SIGTERM the roots and all their descendants, then SIGKILL what is left."""
    kids = _children_map()
    every: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in every or pid <= 1 or pid == os.getpid():
            continue
        every.add(pid)
        stack.extend(kids.get(pid, []))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in every:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline and any(_alive(p) for p in every):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def alive(pid: int | None) -> bool:
    return pid is not None and _alive(pid)


def unmount_under(paths: Iterable[Path]) -> None:
    """Lazily unmount every mount point below the given folders, deepest first."""
    prefixes = [str(p).rstrip("/") + "/" for p in paths]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any((point + "/").startswith(p) for p in prefixes):
            points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        run(["umount", "-l", point], check=False)
