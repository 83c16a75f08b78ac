"""May the login user do what a rollout needs: write the state folder, use the engine? Pure.

A rollout's first command checks that it can write the state folder (locks, guards,
the audit log) before it takes the lock; when it cannot, it says whether the engine
answers too, and exits EXIT_ACCESS. `explain` turns that, or docker's own "permission
denied" on its socket, into a sentence that names the folder and what to set.
"""

from __future__ import annotations

import shlex

EXIT_ACCESS = 78
MARK = "--deployer-access--"


def state_dir_lines(state_dir: str) -> list[str]:
    """Shell: make the state folder if we can; unless it is writable, say so and exit."""
    d = shlex.quote(state_dir)
    return [
        f"mkdir -p {d} 2>/dev/null",
        f"if [ ! -w {d} ] || [ ! -x {d} ]; then",
        "  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && e=ok || e=denied",
        f'  echo {MARK} "$(id -un)" "$e" >&2; exit {EXIT_ACCESS}',
        "fi",
    ]


def explain(stderr: str, state_dir: str, user: str, become: bool) -> str | None:
    """The reason a host refused the login user, naming what to set; None when stderr
    tells of no such refusal."""
    said = next((ln for ln in stderr.splitlines() if ln.startswith(MARK)), None)
    if said is not None:
        parts = said.split()
        who = parts[1] if len(parts) > 1 else user
        engine = len(parts) > 2 and parts[2] == "denied"
        text = (
            f"{who} cannot write the state folder {state_dir} (locks and the audit log): "
            f"set deployer_state_dir to a folder {who} can write, "
            "or set ansible_become: true to run through sudo"
        )
        if not become:
            text += f" (or make it {who}'s: install -d -g docker -m 2775 {state_dir})"
        if engine:
            text += f"; {who} may not use the Docker engine either: " + _engine_fix(who)
        return text
    if "permission denied" in stderr.lower() and "docker" in stderr.lower():
        return f"{user} may not use the Docker engine on this host: " + _engine_fix(user)
    return None


def _engine_fix(user: str) -> str:
    return (
        f"add {user} to the group of the engine's socket (docker), or set ansible_become: true "
        "(with ansible_become_password or deployer_become_password_env if sudo asks for one)"
    )
