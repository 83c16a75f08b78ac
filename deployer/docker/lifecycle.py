"""The removal of a container (`state: absent`, `deploy --prune-undeclared`): one remote
command. Pure builder; every value reaches the shell through `sh`.

In that order, each step only when the one before it succeeded:
1. a proxied container loses its route (docker/proxy.py drop_route_script, in a subshell:
   it ends early when there is no route), so the proxy never routes to a removed container;
2. the audit record is appended: nothing is removed that the audit log does not name;
3. the live container is stopped (its own stop timeout), then every container of the name
   (live, retained, left under a temporary name) is removed by id.
"""

from __future__ import annotations

from collections.abc import Sequence

from deployer.docker import proxy as px
from deployer.docker.shell import sh

EXIT_ROUTE = 3  # the route could not go: nothing removed
EXIT_AUDIT = 4  # the audit record could not be written: nothing removed


def remove_script(
    name: str,
    ids: Sequence[str],
    *,
    live_id: str | None,
    stop_timeout: int,
    audit_lines: Sequence[str],
    state_dir: str,
    proxied: bool,
    tls: bool = False,
) -> str:
    """Remove the containers `ids` of the logical container `name` (see the module's doc)."""
    lines = ["set -u", "trap '' HUP PIPE"]  # a dropped connection does not stop it halfway
    if proxied:
        drop = px.drop_route_script(name, tls=tls, state_dir=state_dir)
        said = sh(["echo", f"the proxy still routes to {name}: nothing of it was removed"])
        lines += ["(", drop.rstrip("\n"), f") || {{ {said} >&2; exit {EXIT_ROUTE}; }}"]
    if audit_lines:
        log = f"{state_dir}/audit.log"
        said = sh(["echo", "could not write the audit record: nothing was removed"])
        lines.append("umask 002")  # the log stays the state folder group's (locking.py)
        lines.append(f"mkdir -p {sh([state_dir])} || {{ {said} >&2; exit {EXIT_AUDIT}; }}")
        for record in audit_lines:
            append = sh(["printf", "%s\\n", record])
            lines.append(f"{append} >> {sh([log])} || {{ {said} >&2; exit {EXIT_AUDIT}; }}")
    if live_id:
        lines.append(f"{sh(['docker', 'stop', '-t', str(stop_timeout), live_id])} >/dev/null 2>&1")
    lines.append("rc=0")
    for cid in ids:  # one already gone is removed too
        lines.append(
            f"{sh(['docker', 'rm', '-f', cid])} >/dev/null 2>&1 || "
            f"! {sh(['docker', 'container', 'inspect', cid])} >/dev/null 2>&1 || "
            f"{{ {sh(['echo', 'could not remove', cid])} >&2; rc=1; }}"
        )
    lines.append("exit $rc")
    return "\n".join(lines) + "\n"
