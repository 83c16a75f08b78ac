"""Become (Ansible's word): each remote script runs as another user through sudo. Pure.

The script stays ONE command: the login shell runs a small wrapper that hands the script
to `sudo ... sh -c SCRIPT`, so become adds no round trip. When a password is configured
it is the first line of the command's stdin (before whatever data the script reads
there: TLS files, secrets, a registry password); the wrapper reads it with the shell's
`read` (no process, no command line) and

1. checks it once with `sudo -S -k -p PROMPT true`, fed only that line: a wrong password
   fails at once with sudo's own words (one attempt, then end of input: never a hang,
   never data taken for a second attempt); whether PROMPT was printed tells whether the
   sudo rule asks for a password at all (NOPASSWD rules do not);
2. runs the script with `sudo -S -k -p ''`, fed the password line and then the rest of
   its stdin (`cat`), or with `sudo -n` where no password was asked.

`-k` makes sudo ask every time (a cached credential would leave the password line on
the script's stdin). The engine's address (DOCKER_HOST), which sudo's env_reset drops,
is handed on. A failure of sudo itself exits EXIT_BECOME with MARK and sudo's message
on stderr; `explain` turns that into a sentence that names what to set.
"""

from __future__ import annotations

from deployer.docker.shell import sh
from deployer.errors import RemoteError
from deployer.model import Become

EXIT_BECOME = 91
MARK = "--deployer-become--"
PROMPT = "[deployer-become-password]"


def _fail() -> str:
    """Shell: say sudo's own words (less our prompt) after MARK on stderr, exit EXIT_BECOME."""
    prompt = "".join("\\" + c if c in "[].*/\\" else c for c in PROMPT)
    return (
        f'{{ printf \'%s\\n\' "$M" | sed "s/{prompt}//g" | tr "\\n" " " | sed "s/^/{MARK} /" >&2; '
        f"echo >&2; exit {EXIT_BECOME}; }}"
    )


def wrap(script: str, become: Become) -> str:
    """The command that runs SCRIPT as become.user; with a password, the command's stdin
    must start with the password's line (`stdin_prefix`)."""
    user = sh([become.user])
    inner = 'env ${DOCKER_HOST:+"DOCKER_HOST=$DOCKER_HOST"} ' + sh(["sh", "-c", script])
    if become.password is None:
        return "\n".join(
            [
                f"M=$(sudo -n -u {user} true 2>&1) || {_fail()}",
                f"exec sudo -n -u {user} -- {inner}",
            ]
        )
    prompt = sh([PROMPT])
    return "\n".join(
        [
            "IFS= read -r P || [ -n \"$P\" ] || P=''",
            f"M=$(printf '%s\\n' \"$P\" | sudo -S -k -p {prompt} -u {user} true 2>&1) || {_fail()}",
            'case "$M" in',
            f"  *{prompt}*) {{ printf '%s\\n' \"$P\"; unset P; exec cat; }} "
            f"| sudo -S -k -p '' -u {user} -- {inner} ;;",
            f"  *) unset P; exec sudo -n -u {user} -- {inner} ;;",
            "esac",
        ]
    )


def stdin_prefix(become: Become | None) -> str:
    """What goes before a wrapped command's own stdin: the password's line, or nothing."""
    if become is None or become.password is None:
        return ""
    return become.password.reveal() + "\n"


def explain(host: str, login: str, become: Become, stderr: str) -> str | None:
    """A sentence for a failure of sudo itself (the wrapper's MARK line), else None."""
    said = next((ln for ln in stderr.splitlines() if ln.startswith(MARK)), None)
    if said is None:
        return None
    words = " ".join(said[len(MARK) :].split())
    as_ = f"sudo as {become.user}, logged in as {login}"
    if "incorrect password" in words or "no password was provided" in words:
        why = "the become password was refused: check ansible_become_password or the variable deployer_become_password_env names"
    elif "a password is required" in words:
        why = "sudo asks for a password: set ansible_become_password, or deployer_become_password_env to a controller environment variable holding it"
    elif "not in the sudoers" in words or "not allowed" in words or "may not run" in words:
        why = f"{login} may not use sudo on this host: add it to sudoers, or log in as a user in the docker group without become"
    elif "not found" in words:
        why = "sudo is not installed on this host"
    else:
        why = words or "sudo failed"
    return f"{host}: become failed ({as_}): {why}"


def check(host: str, login: str, become: Become | None, code: int, stderr: str) -> None:
    """Raise RemoteError with `explain`'s sentence when sudo itself refused the command."""
    if become is not None and code == EXIT_BECOME:
        why = explain(host, login, become, stderr)
        if why is not None:
            raise RemoteError(why)
