"""`-e key=value` and `-e @file.yml` extra variables (highest precedence, as in Ansible)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from deployer.config.problems import Problems
from deployer.config.yamlpos import load_file, load_text
from deployer.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_extra_vars(items: list[str]) -> dict[str, Any]:
    """Merge -e items left to right; ConfigError listing every bad item."""
    problems = Problems()
    out: dict[str, Any] = {}
    for item in items:
        out.update(_one(item, problems))
    problems.raise_if_any()
    return out


def _one(item: str, problems: Problems) -> dict[str, Any]:
    where = f"-e {item}"
    if item.startswith("@"):
        path = item[1:]
        doc = load_file(path, problems, "extra-vars file")
        if doc is None or doc.data is None:
            return {}
        if not isinstance(doc.data, dict):
            problems.add(path, doc.root, (), "an extra-vars file must be a mapping of name: value")
            return {}
        return {str(k): v for k, v in doc.data.items()}
    text = item.strip()
    if text.startswith("{"):
        doc = load_text(text, where, problems)
        if doc is not None and isinstance(doc.data, dict):
            return {str(k): v for k, v in doc.data.items()}
        if doc is not None:
            problems.add(where, None, (), "expected a mapping")
        return {}
    out: dict[str, Any] = {}
    try:
        words = shlex.split(text)
    except ValueError as err:
        problems.add(where, None, (), f"cannot split: {err}")
        return {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not _NAME.match(key):
            problems.add(where, None, (), f"expected key=value or @file.yml, got {word!r}")
            continue
        out[key] = value
    return out


def check_extra_vars(items: list[str], problems: Problems) -> dict[str, Any]:
    try:
        return parse_extra_vars(items)
    except ConfigError as err:
        problems.extend(err)
        return {}
