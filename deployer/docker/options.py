"""Pure builders for the container options: the `docker run` flags of a RunOptions, the log
default, and the prepare step's pull line for each image by its `pull` policy."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from deployer.docker.shell import sh
from deployer.model import ContainerSpec, LogConfig, PullPolicy, RunOptions

# No `log:` in the playbook: json-file, rotated, so a fleet never fills its disks by default.
# Not part of the spec hash: it reaches a container when that container is next replaced.
DEFAULT_LOG = LogConfig("json-file", (("max-size", "10m"), ("max-file", "3")))
_RANK: dict[PullPolicy, int] = {"never": 0, "missing": 1, "always": 2}


def options_argv(o: RunOptions) -> list[str]:
    """The `docker run` flags of the options, in a fixed order (before the image)."""
    argv: list[str] = []
    cpu_shares = str(o.cpu_shares) if o.cpu_shares is not None else None
    for flag, value in (
        ("--memory", o.memory),
        ("--memory-reservation", o.memory_reservation),
        ("--shm-size", o.shm_size),
        ("--cpus", o.cpus),
        ("--cpu-shares", cpu_shares),
        ("--user", o.user),
        ("--workdir", o.workdir),
        ("--hostname", o.hostname),
        ("--gpus", o.gpus),
    ):
        if value is not None:
            argv += [flag, value]
    if o.entrypoint is not None:  # docker takes one program; the rest go before the command
        argv += ["--entrypoint", o.entrypoint[0] if o.entrypoint else ""]
    for flag, values in (
        ("--add-host", o.extra_hosts),
        ("--dns", o.dns),
        ("--cap-add", o.cap_add),
        ("--cap-drop", o.cap_drop),
        ("--tmpfs", o.tmpfs),
        ("--ulimit", o.ulimits),
        ("--device", o.devices),
    ):
        for value in values:
            argv += [flag, value]
    argv += ["--read-only"] if o.read_only else []
    argv += [] if o.init is None else ["--init"] if o.init else ["--init=false"]
    argv += ["--privileged"] if o.privileged else []
    return argv + log_argv(o.log)


def log_argv(log: LogConfig | None) -> list[str]:
    """--log-driver and --log-opt; DEFAULT_LOG when the playbook says nothing."""
    log = log or DEFAULT_LOG
    argv = ["--log-driver", log.driver]
    for key, value in log.options:
        argv += ["--log-opt", f"{key}={value}"]
    return argv


def command_args(spec: ContainerSpec) -> list[str]:
    """What follows the image: the entrypoint's arguments (a list entrypoint's items after
    the first), then the command (None: the image's CMD, unless an entrypoint is set, when
    docker clears the CMD)."""
    entry = spec.options.entrypoint
    return [*(entry[1:] if entry else ()), *(spec.command or ())]


def pull_policies(images: Sequence[str], specs: Sequence[ContainerSpec]) -> dict[str, PullPolicy]:
    """Each image's policy: the strongest of the containers that run it (always > missing >
    never); an image no spec names is pulled always (deployer's behaviour before `pull`)."""
    out: dict[str, PullPolicy] = {}
    for image in dict.fromkeys(images):
        wanted = [s.options.pull for s in specs if s.image == image] or ["always"]
        out[image] = max(wanted, key=lambda p: _RANK[p])
    return out


def pull_line(image: str, policy: PullPolicy, docker: Sequence[str], pull: bool, code: int) -> str:
    """Shell: fetch IMAGE by POLICY (docker: `docker --config DIR`), or fail with CODE naming
    it. With pull=False (--check) nothing is pulled; a `never` image must still be there."""
    q = shlex.quote(image)
    if policy == "never":
        why = shlex.quote(f"{image}: not on this host, and pull: never forbids pulling it")
        return f"docker image inspect {q} >/dev/null 2>&1 || {{ echo {why} >&2; exit {code}; }}"
    if not pull:
        return ""
    fetch = (
        f'{sh([*docker, "pull", "-q", image])} >/dev/null 2>"$D/err" '
        f'|| {{ echo {q} >&2; cat "$D/err" >&2; exit {code}; }}'
    )
    return fetch if policy == "always" else f"docker image inspect {q} >/dev/null 2>&1 || {fetch}"
