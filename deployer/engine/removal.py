"""Removals in a rollout (`state: absent`, `deploy --prune-undeclared`): the confirmation of
what --prune-undeclared would remove, and one container's removal with its audit record.
Never prints, never reads input: the CLI's callback asks (Options.confirm).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deployer.engine.outcomes import ContainerOutcome, HostOutcome
from deployer.errors import DeployerError
from deployer.plan import Action
from deployer.plan.lifecycle import undeclared
from deployer.targets import Engine, Removed

DECLINED = "not started: the removal of undeclared containers was not confirmed"


@dataclass(frozen=True)
class Removal:
    """One container --prune-undeclared would remove, as the confirmation lists it."""

    host: str
    container: str  # its docker name (a retained version: NAME_prev_<id>)
    image: str
    logical: str  # the name it stands for (its deployer.name label)


Confirm = Callable[[Sequence[Removal]], bool]


def to_confirm(planned: Sequence[tuple[str, Sequence[Action]]]) -> list[Removal]:
    """Every container --prune-undeclared would remove, host by host: (host, its actions)."""
    return [
        Removal(host, c.name, c.image, a.spec.name)
        for host, actions in planned
        for a in actions
        if undeclared(a)
        for c in a.remove
    ]


def confirmed(planned: Sequence[tuple[str, Sequence[Action]]], confirm: Confirm | None) -> bool:
    """True when there is nothing to confirm, no one to ask (--yes), or the answer is yes."""
    listed = to_confirm(planned)
    return not listed or confirm is None or confirm(listed)


def skip(outcomes: Sequence[HostOutcome], why: str) -> None:
    """The hosts of a play that will not start: nothing was changed on them."""
    for h in outcomes:
        if h.status in ("ok", "changed"):
            h.status, h.reason = "skipped", why
            for c in h.containers:
                c.action = "skipped" if c.action != "noop" else c.action


def remove(
    engine: Engine, action: Action, outcome: ContainerOutcome, what: dict[str, object]
) -> tuple[str | None, str | None]:
    """Remove the containers of one removal; the audit record goes with the command, before
    anything is removed. (what failed or None, an audit line for finalize to write or None:
    a failure before the record was written is recorded there)."""
    t0 = time.monotonic()
    record = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **what,
        "removed": [
            {"id": c.id, "name": c.name, "image": c.image, "image_id": c.image_id}
            for c in action.remove
        ],
        "outcome": "ok",
        "detail": action.changes[0] if action.changes else "",
    }
    try:
        done = engine.remove(action.spec, action.remove, [json.dumps(record, sort_keys=True)])
    except Exception as err:  # noqa: BLE001 - said plainly, the host fails
        text = str(err) if isinstance(err, DeployerError) else f"internal error: {err!r}"
        done = Removed(False, text, False)
    outcome.health, outcome.health_detail = "n/a", done.detail
    outcome.took = time.monotonic() - t0
    if done.ok:
        return None, None
    outcome.error = done.detail
    failed = {**record, "outcome": "failed", "detail": done.detail}
    return f"not removed: {done.detail}", json.dumps(failed, sort_keys=True)
