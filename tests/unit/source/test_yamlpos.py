from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployer.source.files import MAX_BYTES, decode_text
from deployer.source.problems import Mark, Problems
from deployer.source.yamlpos import load_file, load_text


def load(text: str) -> tuple[object, list[str]]:
    problems = Problems()
    doc = load_text(text, "f.yml", problems)
    return (doc.data if doc else None), problems.messages()


def test_positions_of_keys_and_values() -> None:
    problems = Problems()
    doc = load_text("a:\n  b: [1, x]\n  c: {d: 2}\n", "f.yml", problems)
    assert doc is not None and not problems
    inner = doc.data["a"]  # type: ignore[index]
    assert doc.key_pos(inner, "b") == Mark(2, 3)
    assert doc.pos(inner["b"], 1) == Mark(2, 10)
    assert doc.pos(inner["c"], "d") == Mark(3, 10)


def test_scalars_resolve_like_yaml_1_1() -> None:
    data, problems = load(
        "a: yes\nb: 010\nc: 1.5\nd: ~\ne: '1'\nf: 2024-01-01\ng: !unsafe '{{ x }}'\n"
    )
    assert not problems
    assert data == {
        "a": True,
        "b": 8,
        "c": 1.5,
        "d": None,
        "e": "1",
        "f": "2024-01-01",
        "g": "{{ x }}",
    }


def test_merge_keys_and_aliases() -> None:
    data, problems = load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: *b\n")
    assert not problems
    assert data == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "l": {"x": 1, "y": 2}}


def test_duplicate_key_names_both_lines() -> None:
    _, problems = load("a: 1\nb: 2\na: 3\n")
    assert problems == ["f.yml:3:1: (top): duplicate key 'a' (first defined on line 1)"]


def test_syntax_error_has_position() -> None:
    _, problems = load("a: [1, 2\nb: 3\n")
    assert (
        len(problems) == 1
        and problems[0].startswith("f.yml:2:")
        and "YAML syntax error" in problems[0]
    )


def test_unknown_tag_is_a_problem() -> None:
    _, problems = load("a: !vault |\n  $ANSIBLE_VAULT\n")
    assert problems and "unsupported YAML tag '!vault'" in problems[0]


def test_second_document_is_refused() -> None:
    _, problems = load("a: 1\n---\nb: 2\n")
    assert problems and "second one" in problems[0] and problems[0].startswith("f.yml:2:1:")


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.monotonic()
    data, problems = load("\n".join(lines) + "\n")
    assert data is None and "alias bomb" in problems[0]
    assert time.monotonic() - start < 1


def test_deep_nesting_is_refused() -> None:
    data, problems = load("[" * 50_000 + "]" * 50_000)
    assert data is None and "nested too deeply" in problems[0]
    data, problems = load("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)))
    assert data is None and "nested too deeply" in problems[0]


def test_recursive_alias_is_refused() -> None:
    data, problems = load("a: &a [1, *a]\n")
    assert data is None and "recursive" in problems[0]


def test_undefined_alias_is_refused() -> None:
    _, problems = load("a: *nope\n")
    assert "no anchor &nope" in problems[0] and problems[0].startswith("f.yml:1:4:")


def test_binary_and_non_utf8_and_huge(tmp_path: object) -> None:
    problems = Problems()
    assert decode_text(b"a: 1\n\x00\x01\x02", "bin", problems) is None
    assert decode_text(b"a: 1\nb: caf\xe9\n", "latin", problems) is None
    assert decode_text(b"x" * (MAX_BYTES + 1), "huge", problems) is None
    msgs = problems.messages()
    assert msgs[0] == "bin:2:1: (top): file looks binary (NUL byte at offset 5)"
    assert msgs[1] == "latin:2:7: (top): file is not UTF-8 text (byte 0xe9)"
    assert "too large" in msgs[2]


def test_huge_file_is_refused_without_reading_it(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "huge.yml"
    with open(path, "wb") as fh:
        fh.truncate(MAX_BYTES + 10)
    problems = Problems()
    start = time.monotonic()
    assert load_file(str(path), problems) is None
    assert "too large" in problems.messages()[0] and time.monotonic() - start < 0.5


def test_control_characters_are_a_problem_not_a_crash() -> None:
    data, problems = load("a: \x07bell\n")
    assert data is None and problems


yaml_text = st.text(
    alphabet=st.sampled_from(list("ab: -[]{},&*!|>'\"#%@`?~\n\t 0123456789.<=\\\x85\u2028é")),
    max_size=120,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_text)
def test_random_text_never_crashes(text: str) -> None:
    problems = Problems()
    doc = load_text(text, "r.yml", problems)
    assert (doc is None) == bool(problems) or doc is not None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    problems = Problems()
    text = decode_text(raw, "r.yml", problems)
    if text is not None:
        load_text(text, "r.yml", problems)
