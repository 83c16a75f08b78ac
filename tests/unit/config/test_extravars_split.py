"""`-e key=value` is split as Ansible splits it: a `{{ … }}` (and quotes) stay whole.

The expected values were recorded from ansible-core 2.19.14's `parse_kv`, which
`ansible-playbook -e` uses for key=value items."""

from __future__ import annotations

import pytest

from deployer.config import parse_extra_vars
from deployer.errors import ConfigError

RECORDED_FROM_ANSIBLE: list[tuple[str, dict[str, str]]] = [
    ("image={{ lab_image_v1 }}", {"image": "{{ lab_image_v1 }}"}),
    ("x=1 y='two words'", {"x": "1", "y": "two words"}),
    ('a="b c"d', {"a": '"b c"d'}),
    ("msg=a\\nb", {"msg": "a\nb"}),
    ("u=\\u00e9", {"u": "é"}),
    ('a={{ x | default("y z") }} b=2', {"a": '{{ x | default("y z") }}', "b": "2"}),
    ("a=b=c", {"a": "b=c"}),
    (" a=1  b=2 ", {"a": "1", "b": "2"}),
    ('a="{{ x }}"', {"a": "{{ x }}"}),
    ("a={% if x %}1{% else %}2{% endif %}", {"a": "{% if x %}1{% else %}2{% endif %}"}),
    ("a='it''s'", {"a": "it''s"}),
    ('a="x  y"', {"a": "x  y"}),
    ('a={{ "it\'s" }} b=c', {"a": '{{ "it\'s" }}', "b": "c"}),
    ("a={# note #}x", {"a": "{# note #}x"}),
    ("path=C:\\\\dir", {"path": "C:\\dir"}),
    ('a="b\\"c"', {"a": 'b"c'}),
    ("a=x'y z'", {"a": "x'y z'"}),
    ('a={{ {"k": "v v"} }}', {"a": '{{ {"k": "v v"} }}'}),
    ('a="multi\nline"', {"a": "multi\nline"}),
    ("a=1\nb=2", {"a": "1", "b": "2"}),
    ("a=\\x41", {"a": "A"}),
    ("a=tab\there", {"a": "tab\there"}),
    ("a=''", {"a": ""}),
    ("a=", {"a": ""}),
]


@pytest.mark.parametrize(
    "item, want", RECORDED_FROM_ANSIBLE, ids=[c[0] for c in RECORDED_FROM_ANSIBLE]
)
def test_split_as_ansible_does(item: str, want: dict[str, str]) -> None:
    assert parse_extra_vars([item]) == want


@pytest.mark.parametrize(
    "item, message",
    [
        ('a="open', "no closing quotation"),
        ("a={{ x", "unclosed {{ }}"),
        ("a={% if x", "unclosed {% %}"),
        (
            "k=  v",
            "expected key=value or @file.yml, got 'v'",
        ),  # Ansible silently takes 'v' as _raw_params
        ("1a=2", "expected key=value"),
    ],
)
def test_bad_items_are_input_errors(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_extra_vars([item])
    assert any(message in p for p in err.value.problems), err.value.problems


def test_a_template_with_spaces_reaches_the_playbook(tmp_path) -> None:
    from deployer.config import load_playbook
    from deployer.inventory import load_inventory

    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    h1: {lab_image_v1: 'reg:5000/web:v1'}\n")
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  containers:\n    - {name: web, image: '{{ image }}'}\n"
    )
    book = load_playbook(
        str(tmp_path / "site.yml"),
        load_inventory([str(tmp_path / "inv.yml")]),
        ["image={{ lab_image_v1 }}"],
    )
    assert book.plays[0].containers["h1"][0].image == "reg:5000/web:v1"
