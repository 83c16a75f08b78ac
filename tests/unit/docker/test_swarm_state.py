"""Where a service update stands, from what the Engine API reports (docker/swarm_state.py)."""

from __future__ import annotations

from typing import Any

from deployer.docker import swarm_state as st

V1, V2 = "reg/app:1", "reg/app:2"


def svc(
    image: str = V2, replicas: int = 3, state: str | None = None, msg: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Spec": {
            "TaskTemplate": {"ContainerSpec": {"Image": image}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        }
    }
    if state:
        out["UpdateStatus"] = {"State": state, "Message": msg, "StartedAt": "t1"}
    return out


def task(
    node: str, image: str, state: str = "running", desired: str = "running", err: str = ""
) -> dict[str, Any]:
    return {
        "NodeID": node,
        "Spec": {"ContainerSpec": {"Image": image}},
        "Status": {"State": state, "Err": err},
        "DesiredState": desired,
    }


NAMES = {"n1": "h1", "n2": "h2", "n3": "h3"}


def stand(service: dict[str, Any], tasks: list[dict[str, Any]]) -> st.Standing:
    return st.standing(service, st.task_views(tasks, NAMES), 3)


def test_converged_when_every_wanted_task_runs_the_new_image() -> None:
    s = stand(svc(state="completed"), [task(n, V2) for n in NAMES])
    assert s.phase == "converged" and s.running == s.wanted == 3
    assert s.by_node == {"h1": [V2], "h2": [V2], "h3": [V2]}


def test_updating_while_an_old_task_runs_or_one_is_missing() -> None:
    assert stand(svc(), [task("n1", V2), task("n2", V2), task("n3", V1)]).phase == "updating"
    assert stand(svc(), [task("n1", V2), task("n2", V2)]).phase == "updating"
    starting = [task("n1", V2), task("n2", V2), task("n3", V2, state="starting")]
    assert stand(svc(), starting).phase == "updating"  # not healthy yet
    assert stand(svc(state="updating"), [task(n, V2) for n in NAMES]).phase == "updating"


def test_rolled_back_and_paused_with_the_tasks_reasons() -> None:
    tasks = [task(n, V1) for n in NAMES] + [
        task("n1", V2, state="failed", desired="shutdown", err="task: non-zero exit (1): unhealthy")
    ]
    s = stand(svc(V1, state="rollback_completed", msg="rollback completed"), tasks)
    assert s.phase == "rolled_back" and s.message == "rollback completed" and s.started == "t1"
    assert s.reasons == ("h1: reg/app:2: failed: task: non-zero exit (1): unhealthy",)
    # a rolled-back task that ended "complete" is named too, by node and image
    done = [task(n, V1) for n in NAMES] + [task("n2", V2, state="complete", desired="shutdown")]
    rolled = svc(V1, state="rollback_completed")
    rolled["PreviousSpec"] = {"TaskTemplate": {"ContainerSpec": {"Image": V2}}}
    s = stand(rolled, done + [task("n1", "reg/app:0", state="shutdown", desired="shutdown")])
    assert s.reasons == ("h2: reg/app:2: complete",)  # not the older history
    # a task that should run and cannot be placed
    pending = [task("n1", V2), task("", V2, state="pending", err="no suitable node")]
    assert stand(svc(), pending).reasons == ("(not placed): reg/app:2: pending: no suitable node",)
    assert stand(svc(state="paused"), tasks).phase == "paused"


def test_global_service_wants_one_task_per_active_node() -> None:
    service = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Image": V2}}, "Mode": {"Global": {}}}}
    assert st.wanted_tasks(service, 5) == 5


def test_nodes_by_inventory_name_else_hostname_and_address() -> None:
    raw = [
        {
            "ID": "n1",
            "Status": {"Addr": "10.0.0.1", "State": "ready"},
            "Spec": {"Role": "manager", "Availability": "active"},
            "Description": {"Hostname": "vm", "Engine": {"EngineVersion": "20.10"}},
            "ManagerStatus": {"Leader": True},
        },
        {
            "ID": "n2",
            "Status": {"Addr": "10.0.0.2", "State": "down"},
            "Spec": {"Role": "worker", "Availability": "drain"},
            "Description": {"Hostname": "vm"},
        },
    ]
    nodes = st.nodes(raw, {"10.0.0.1": "h1"})
    assert [(n.name, n.role, n.state, n.leader) for n in nodes] == [
        ("h1", "manager", "ready", True),
        ("vm@10.0.0.2", "worker", "down", False),
    ]
    assert nodes[0].engine == "20.10" and nodes[1].availability == "drain"


def test_tasks_of_the_image_swarm_rolled_back_from() -> None:
    tasks = [task(n, V1) for n in NAMES] + [
        task("n3", V2, state="complete", desired="shutdown"),
        task("n2", "reg/app:0", state="shutdown", desired="shutdown"),
    ]
    s = stand(svc(V1, state="rollback_completed"), tasks)
    assert st.tasks_of(s, V2) == ("h3: reg/app:2: complete",)


def node(nid: str, name: str, state: str = "ready", msg: str = "") -> st.Node:
    return st.Node(nid, name, "", "worker", state, "active", "27", message=msg)


UP = (node("n1", "h1"), node("n2", "h2"))
H3_DOWN = (*UP, node("n3", "h3", "down", "heartbeat failure"))
# h3's engine stopped mid-update: its old task still "running" as last reported, Swarm wants
# it shut down; its slot's new task cannot be placed (host port taken on h1 and h2)
STUCK = [
    task("n3", V1, desired="shutdown"),
    task("", V2, state="pending", err="no suitable node (host-mode port already in use)"),
]


def with_nodes(service: dict[str, Any], tasks: list[dict[str, Any]], nodes: Any) -> st.Standing:
    return st.standing(service, st.task_views(tasks, NAMES), 2, nodes)


def test_an_update_held_up_only_by_a_node_that_is_down_is_converged_naming_it() -> None:
    tasks = [task("n1", V2), task("n2", V2), *STUCK]
    s = with_nodes(svc(state="updating"), tasks, H3_DOWN)
    assert s.phase == "converged" and s.running == 2 and s.wanted == 3
    assert s.down_names == ("h3",) and "h3 (heartbeat failure)" in s.down_text()
    assert s.by_node == {"h1": [V2], "h2": [V2]}
    # the same while every node is still ready (not yet seen down): not done
    assert with_nodes(svc(state="updating"), tasks, (*UP, node("n3", "h3"))).phase == "updating"
    assert with_nodes(svc(state="updating"), tasks, (*UP, node("n3", "h3"))).down_text() == ""


def test_a_node_down_excuses_no_old_task_and_no_more_tasks_than_nodes_down() -> None:
    old_left = [task("n1", V2), task("n2", V1), *STUCK]
    assert with_nodes(svc(state="updating"), old_left, H3_DOWN).phase == "updating"
    two_missing = [task("n1", V2), *STUCK, task("", V2, state="pending")]
    assert with_nodes(svc(state="updating"), two_missing, H3_DOWN).phase == "updating"
    # a task still starting on a node that is up is waited for
    starting = [task("n1", V2), task("n2", V2, state="starting"), *STUCK]
    assert with_nodes(svc(state="updating"), starting, H3_DOWN).phase == "updating"
    # a paused update stays paused
    assert (
        with_nodes(svc(state="paused"), [task("n1", V2), task("n2", V2), *STUCK], H3_DOWN).phase
        == "paused"
    )


def test_a_rollback_held_up_only_by_a_node_that_is_down_is_rolled_back() -> None:
    tasks = [task("n1", V1), task("n2", V1), task("", V1, state="pending")]
    s = with_nodes(svc(V1, state="rollback_started"), tasks, H3_DOWN)
    assert s.phase == "rolled_back" and s.down_names == ("h3",)
    assert with_nodes(svc(V1, state="rollback_started"), tasks, UP).phase == "updating"
