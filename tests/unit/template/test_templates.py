"""Templates: lazy variables, native types, undefined is an error, the sandbox, to_json."""

from __future__ import annotations

import pytest

from deployer.template.render import Renderer, TemplateError


def test_templates_lazy_native_and_strict() -> None:
    r = Renderer(
        {
            "reg": "r.io",
            "tag": "v1",
            "image": "{{ reg }}/web:{{ tag }}",
            "ports": [80],
            "unused": "{{ nope }}",
        }
    )
    assert r.render("{{ image }}") == "r.io/web:v1"
    assert r.render("{{ ports }}") == [80]
    assert r.render({"a": ["x{{ tag }}"]}) == {"a": ["xv1"]}
    with pytest.raises(TemplateError, match="undefined variable 'tga' \\(did you mean 'tag'\\?\\)"):
        r.render("{{ tga }}")
    with pytest.raises(TemplateError, match="undefined variable 'nope'"):
        r.render("{{ unused }}")


@pytest.mark.parametrize(
    "source, text",
    [
        ("{{ ().__class__.__bases__ }}", "not allowed"),
        ("{{ 'x' * 100000000 }}", "too large"),
        ("{{ x", "syntax error"),
    ],
)
def test_templates_are_sandboxed(source: str, text: str) -> None:
    with pytest.raises(TemplateError, match=text):
        Renderer({}).render(source)


def test_self_reference_is_reported() -> None:
    with pytest.raises(TemplateError, match="refers to itself"):
        Renderer({"a": "{{ b }}", "b": "{{ a }}"}).render("{{ a }}")


def test_to_json_keeps_key_order_and_mixed_keys_as_ansible() -> None:
    """Ansible's to_json does not sort: `{a: 1, 0: 2}` (an inventory mapping with an int key)
    renders as it does there instead of failing on sorting int against str."""
    r = Renderer({"x": {"a": 1, 0: 2}, "y": {"b": 1, "a": 2}})
    assert r.render("{{ x | to_json }}") == '{"a": 1, "0": 2}'
    assert r.render("{{ y | to_json }}") == '{"b": 1, "a": 2}'
