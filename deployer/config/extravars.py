"""`-e key=value` and `-e @file.yml` extra variables (highest precedence, as in Ansible)."""

from __future__ import annotations

import codecs
import re
from typing import Any

from deployer.errors import ConfigError
from deployer.source.problems import Mark, Problems
from deployer.source.yamlpos import load_file, load_text

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Origins = dict[str, tuple[str, Mark | None]]  # variable -> where its winning -e value was written


def parse_extra_vars(items: list[str], origins: Origins | None = None) -> dict[str, Any]:
    """Merge -e items left to right; ConfigError listing every bad item. ORIGINS, when
    given, gets where each variable was set: `-e ITEM` (no position) or the file/line."""
    problems = Problems()
    out: dict[str, Any] = {}
    for item in items:
        out.update(_one(item, problems, {} if origins is None else origins))
    problems.raise_if_any()
    return out


def _one(item: str, problems: Problems, origins: Origins) -> dict[str, Any]:
    where = f"-e {item}"
    if item.startswith("@"):
        path = item[1:]
        doc = load_file(path, problems, "extra-vars file")
        if doc is None or doc.data is None:
            return {}
        if not isinstance(doc.data, dict):
            problems.add(path, doc.root, (), "an extra-vars file must be a mapping of name: value")
            return {}
        origins.update({str(k): (path, doc.key_pos(doc.data, k)) for k in doc.data})
        return {str(k): v for k, v in doc.data.items()}
    text = item.strip()
    if text.startswith("{"):
        doc = load_text(text, where, problems)
        if doc is not None and isinstance(doc.data, dict):
            origins.update({str(k): (where, doc.key_pos(doc.data, k)) for k in doc.data})
            return {str(k): v for k, v in doc.data.items()}
        if doc is not None:
            problems.add(where, None, (), "expected a mapping")
        return {}
    out: dict[str, Any] = {}
    try:
        words = split_words(text)
    except ValueError as err:
        problems.add(where, None, (), f"cannot split: {err}")
        return {}
    for word in words:
        key, sep, value = _key_value(_decode_escapes(word))
        if not sep or not _NAME.match(key):
            problems.add(where, None, (), f"expected key=value or @file.yml, got {word!r}")
            continue
        out[key] = _unquote(value.strip())
        origins[key] = (where, None)
    return out


# -- key=value words as Ansible reads them -----------------------------------------------------
_JINJA = {"{{": "}}", "{%": "%}", "{#": "#}"}


def split_words(text: str) -> list[str]:
    """Split on spaces and newlines, as Ansible does for `-e`: but never inside quotes or a
    `{{ }}`, `{% %}` or `{# #}` block (kept whole, with their inner spacing); ValueError when
    a quote or a block is left open."""
    words: list[str] = []
    word: list[str] = []
    quote: str | None = None
    depth = {opener: 0 for opener in _JINJA}
    i = 0
    while i < len(text):
        ch, pair = text[i], text[i : i + 2]
        if ch in "\"'" and (i == 0 or text[i - 1] != "\\"):
            quote = None if quote == ch else (quote or ch)
        elif pair in _JINJA:
            depth[pair] += 1
        elif pair in _JINJA.values():
            opener = next(o for o, c in _JINJA.items() if c == pair)
            depth[opener] = max(0, depth[opener] - 1)
        if ch in " \n" and quote is None and not any(depth.values()):
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(ch)
            if pair in _JINJA or pair in _JINJA.values():
                word.append(text[i + 1])
                i += 1
        i += 1
    if quote is not None:
        raise ValueError(f"no closing quotation ({quote})")
    open_blocks = [o + " " + c for o, c in _JINJA.items() if depth[o]]
    if open_blocks:
        raise ValueError(f"an unclosed {open_blocks[0]} block")
    if word:
        words.append("".join(word))
    return words


_ESCAPES = re.compile(
    r"\\(?:U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|N\{[^}]+\}|[\\'\"abfnrtv])"
)


def _decode_escapes(word: str) -> str:
    """`\\n`, `\\x41`, `\\u00e9`, `\\N{name}`... decoded, as Ansible does; others kept."""

    def one(match: re.Match[str]) -> str:
        try:
            return codecs.decode(match.group(0), "unicode-escape")
        except UnicodeDecodeError:  # an unknown \N{name}
            return match.group(0)

    return _ESCAPES.sub(one, word)


def _key_value(word: str) -> tuple[str, str, str]:
    """Split at the first `=` not escaped by a backslash (a leading `=` is no separator)."""
    for pos in range(1, len(word)):
        if word[pos] == "=" and word[pos - 1] != "\\":
            return word[:pos].strip(), "=", word[pos + 1 :]
    return word, "", ""


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" and value[-2] != "\\":
        return value[1:-1]
    return value


def check_extra_vars(
    items: list[str], problems: Problems, origins: Origins | None = None
) -> dict[str, Any]:
    try:
        return parse_extra_vars(items, origins)
    except ConfigError as err:
        problems.extend(err)
        return {}
