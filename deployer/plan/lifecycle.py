"""The lifecycle in a deploy's plan, pure: `state: absent` and `--prune-undeclared` (remove a
container and its retained versions), `replace: on_change | never` (what does not replace a
container), `depends_on` (the order of one host's actions).

A removal is one Action of kind "remove" per logical container (its deployer.name label),
carrying every container of that name on the host: the live one, its retained versions, and
any left under a temporary name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from deployer.model import ContainerSpec, Facts, Observed, Playbook, spec_hash
from deployer.plan import Action, plan_host, privileged_mark, secret_changes

# The host's reverse proxy (docker/proxy.py PROXY_NAME): never deployer.managed, never pruned.
PROXY_CONTAINER = "deployer-proxy"
UNDECLARED = "undeclared: no play of the playbook declares it on this host"
ABSENT = "state: absent"


def plan_deploy(
    specs: Sequence[ContainerSpec],
    facts: Facts,
    *,
    force: bool = False,
    nonce: str = "",
    declared: Iterable[str] | None = None,
) -> list[Action]:
    """A deploy's actions on one host: plan_host for the present containers under their
    `replace` policy, a removal for each absent one that exists, in depends_on order; with
    `declared` (--prune-undeclared: every name the playbook declares for this host), then a
    removal for each name deployer manages there that is not in it."""
    present = tuple(s for s in specs if s.state == "present")
    planned = {a.spec.name: a for a in plan_host(present, facts, force=force, nonce=nonce)}
    actions = [
        with_policy(planned[s.name], facts, nonce)
        if s.state == "present"
        else plan_absent(s, facts)
        for s in specs
    ]
    actions = order(actions)
    if declared is not None:
        actions += plan_undeclared(facts, {*declared, *(s.name for s in specs)})
    return actions


def with_policy(action: Action, facts: Facts, nonce: str) -> Action:
    """`replace: on_change`: replaced only when its own spec changed (its spec label or its
    secret values; not a new build of the same tag, not a stopped container, not --force).
    `replace: never`: never replaced once it exists. A change left alone is a no-op whose
    lines say why, so the drift stays visible."""
    spec, cur = action.spec, action.current
    if spec.replace == "always" or action.kind != "replace" or cur is None:
        return action
    own = (
        cur.spec_hash != spec_hash(spec)
        or bool(secret_changes(spec, facts, nonce))
        or not cur.managed
    )
    if spec.replace == "on_change" and own:
        return action
    mark = privileged_mark(spec)
    lines = tuple(line for line in action.changes if line not in mark)
    head = "spec changed, not replaced" if own else "not replaced"
    return Action("noop", spec, cur, (f"{head}: replace: {spec.replace}", *lines))


def kept(action: Action) -> bool:
    """A no-op that left a change alone (replace: on_change / never)."""
    return action.kind == "noop" and bool(action.changes) and "replace: " in action.changes[0]


def plan_absent(spec: ContainerSpec, facts: Facts) -> Action:
    """state: absent: remove every container of the name; nothing there is a no-op."""
    mine = containers_of(spec.name, facts)
    live = facts.live(spec.name)
    if not mine:
        return Action("noop", spec, None)
    spec = dataclasses.replace(spec, stop_timeout=_stop_timeout(live, spec.stop_timeout))
    return Action("remove", spec, live, (ABSENT, *_lines(mine)), remove=mine)


def plan_undeclared(facts: Facts, declared: Iterable[str]) -> list[Action]:
    """--prune-undeclared: a removal for each name deployer manages on the host that no play
    declares (never the proxy, which deployer does not manage as a container)."""
    names = set(declared) | {PROXY_CONTAINER}
    out = []
    for name in dict.fromkeys(c.logical_name for c in facts.containers if c.managed):
        if name in names:
            continue
        mine = tuple(c for c in containers_of(name, facts) if c.name != PROXY_CONTAINER)
        if not mine:
            continue
        live = facts.live(name)
        newest = live or max(mine, key=lambda c: c.created)
        spec = ContainerSpec(
            name=name,
            image=newest.image,
            stop_timeout=_stop_timeout(live, 10),
            state="absent",
        )
        out.append(Action("remove", spec, live, (UNDECLARED, *_lines(mine)), remove=mine))
    return out


def undeclared(action: Action) -> bool:
    """A removal --prune-undeclared planned (those are confirmed first; absent ones are not)."""
    return action.kind == "remove" and action.changes[:1] == (UNDECLARED,)


def containers_of(name: str, facts: Facts) -> tuple[Observed, ...]:
    """Every deployer-managed container of a logical name: live first, then the newest."""
    mine = sorted(
        (c for c in facts.containers if c.managed and c.logical_name == name), key=lambda c: c.name
    )
    mine.sort(key=lambda c: c.created, reverse=True)  # stable: names break ties
    mine.sort(key=lambda c: not c.is_live)
    return tuple(mine)


def _lines(mine: Sequence[Observed]) -> tuple[str, ...]:
    return tuple(
        f"remove: {c.name} ({'live, ' + c.status if c.is_live else 'retained'}, {c.image})"
        for c in mine
    )


def _stop_timeout(live: Observed | None, default: int) -> int:
    """The stop timeout the live container was deployed with (its recorded spec)."""
    raw = live.spec.get("stop_timeout") if live is not None else None
    return (
        raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 3600 else default
    )


def order(actions: Sequence[Action]) -> list[Action]:
    """depends_on first, otherwise as declared (a stable topological order). Names not among
    the actions are ignored; a cycle (validation refuses them) falls back to declared order."""
    names = {a.spec.name for a in actions}
    deps = {
        a.spec.name: {d for d in a.spec.depends_on if d in names} - {a.spec.name} for a in actions
    }
    done: set[str] = set()
    out: list[Action] = []
    while len(out) < len(actions):
        todo = [a for a in actions if a.spec.name not in done]
        nxt = next((a for a in todo if deps[a.spec.name] <= done), todo[0])
        out.append(nxt)
        done.add(nxt.spec.name)
    return out


def declared(playbook: Playbook) -> dict[str, frozenset[str]]:
    """Host name -> every container name any play of the playbook declares for it (present
    or absent): what --prune-undeclared leaves alone."""
    out: dict[str, set[str]] = {}
    for play in playbook.plays:
        for host, specs in play.containers.items():
            out.setdefault(host, set()).update(s.name for s in specs)
    return {h: frozenset(n) for h, n in out.items()}
