"""`batches()`: Ansible's `serial` semantics (sizes, percentages, the last size repeating)."""

from __future__ import annotations

import pytest

from deployer.engine.rollout import batches

H = [f"h{i}" for i in range(1, 11)]  # ten hosts


def sizes(hosts: list[str], serial: tuple[int | str, ...]) -> list[int]:
    return [len(b) for b in batches(hosts, serial)]


@pytest.mark.parametrize(
    "serial,expected",
    [
        ((), [10]),  # no serial: every host at once
        ((1,), [1] * 10),
        ((3,), [3, 3, 3, 1]),
        ((10,), [10]),
        ((25,), [10]),  # larger than the play: one batch
        (("30%",), [3, 3, 3, 1]),
        (("50%",), [5, 5]),
        (("100%",), [10]),
        (("1%",), [1] * 10),  # a percentage rounds down, but never below one host
        (("15%",), [1] * 10),  # 1.5 hosts -> 1
        (("33.5%",), [3, 3, 3, 1]),
        ((1, 2, 3), [1, 2, 3, 3, 1]),  # the last size repeats until the hosts run out
        ((1, "20%", "50%"), [1, 2, 5, 2]),  # percentages of the whole play, not of what is left
        ((2, 100), [2, 8]),
        ((1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), [1] * 10),  # more sizes than needed
    ],
)
def test_batch_sizes(serial, expected):
    assert sizes(H, serial) == expected


def test_batches_keep_inventory_order_and_cover_every_host_once():
    out = batches(H, (1, 2, "30%"))
    assert out == [["h1"], ["h2", "h3"], ["h4", "h5", "h6"], ["h7", "h8", "h9"], ["h10"]]
    assert [h for b in out for h in b] == H


def test_percentage_of_a_small_play():
    assert batches(["a", "b", "c"], ("50%",)) == [["a"], ["b"], ["c"]]
    assert batches(["a", "b", "c"], ("67%",)) == [["a", "b"], ["c"]]


def test_no_hosts_no_batches():
    assert batches([], ()) == []
    assert batches([], (1,)) == []
    assert batches([], ("30%",)) == []


def test_one_host():
    assert batches(["only"], ()) == [["only"]]
    assert batches(["only"], ("10%",)) == [["only"]]
    assert batches(["only"], (5,)) == [["only"]]
