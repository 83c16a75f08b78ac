"""`{{ var }}` templates: Jinja2 in a sandbox, undefined variables are errors.

Variables are resolved lazily, so a variable whose value is itself a template
(`image: "{{ registry }}/web:{{ tag }}"`) is expanded when used, and only then
can it fail. A string that is exactly one `{{ expression }}` keeps the type of
its value (a list stays a list, a number a number), as in Ansible.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
import yaml

from deployer.source.problems import did_you_mean
from deployer.template import limits
from deployer.template.limits import (
    MAX_RESULT,
    TooSlow,
    bounded,
    check_size,
    checked_join,
    guard_filter,
    timer_running,
    too_large,
)
from deployer.template.sandbox import Sandbox

MAX_NESTING = 32  # variables expanding variables
_SINGLE = re.compile(r"^\{\{((?:(?!\{\{|\}\}).)*)\}\}$", re.S)
_UNDEFINED = re.compile(r"^'([^']+)' is undefined")


class TemplateError(Exception):
    """A template could not be rendered; the message is for the user."""


def has_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y")
    return bool(value)


def _regex(pattern: str) -> re.Pattern[str]:
    # A regex can backtrack for ages (`(a+)+$`), inside `re`, where only a signal can
    # stop it: the render's timer (limits.py). Without one (not the main thread), refuse.
    if not timer_running():
        raise jinja2.sandbox.SecurityError(
            "regex filters need the render's time limit, which only the main thread has"
        )
    return re.compile(pattern)


def _regex_replace(value: Any, pattern: str, repl: str = "") -> str:
    total = [len(str(value))]

    def one(m: re.Match[str]) -> str:  # the output grows by each replacement: count it
        text = m.expand(repl) if "\\" in repl else repl
        total[0] += len(text)
        if total[0] > MAX_RESULT:
            raise too_large("the result of regex_replace")
        return text

    return _regex(pattern).sub(one, str(value))


def _regex_search(value: Any, pattern: str) -> str | None:
    m = _regex(pattern).search(str(value))
    return m.group(0) if m else None


def _ternary(value: Any, yes: Any, no: Any) -> Any:
    return yes if value else no


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise TemplateError(msg or "a mandatory variable is not defined")
    return value


ENV = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENV.filters.update(
    {
        "bool": _to_bool,
        "to_json": lambda v: json.dumps(v),  # as Ansible: keys in their order, mixed keys fine
        "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=False),
        "from_json": json.loads,
        "regex_replace": _regex_replace,
        "regex_search": _regex_search,
        "ternary": _ternary,
        "mandatory": _mandatory,
        "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
        "b64decode": lambda v: base64.b64decode(str(v)).decode(),
        "basename": lambda v: os.path.basename(str(v)),
        "dirname": lambda v: os.path.dirname(str(v)),
    }
)
ENV.filters.update({name: guard_filter(name, fn) for name, fn in ENV.filters.items()})
# A template that ran out of time, by its source: it fails at once on the next host.
_TOO_SLOW: dict[str, str] = {}


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return ENV.from_string(source)


@functools.lru_cache(maxsize=4096)
def _compile_expr(source: str) -> jinja2.Template:
    expr = ENV.compile_expression(source, undefined_to_none=False)
    template: jinja2.Template = expr._template
    return template


def _plain(value: Any, depth: int = 0) -> Any:
    """Native results as plain data: str/int/float/bool/None/list/dict."""
    if depth > MAX_NESTING:
        raise TemplateError("result nests too deeply")
    if value is None or isinstance(value, str | int | float | bool):
        return str(value) if isinstance(value, jinja2.runtime.Markup) else value
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises UndefinedError with the name
    return str(value)


class _LazyVars(Mapping[str, Any]):
    """Variables whose template values are expanded on first use."""

    def __init__(self, raw: Mapping[str, Any], renderer: Renderer) -> None:
        self.raw, self.renderer = raw, renderer
        self.done: dict[str, Any] = {}
        self.active: list[str] = []

    def __getitem__(self, key: str) -> Any:
        if key in self.done:
            return self.done[key]
        if key not in self.raw:
            return ENV.globals[key]
        if key in self.active:
            chain = " -> ".join([*self.active[self.active.index(key) :], key])
            raise TemplateError(f"variable {key!r} refers to itself ({chain})")
        if len(self.active) >= MAX_NESTING:
            raise TemplateError(f"variables nest more than {MAX_NESTING} levels deep")
        self.active.append(key)
        try:
            value = self.renderer.render(self.raw[key])
        except TemplateError as err:
            text = str(err)
            raise TemplateError(
                text if "(in variable" in text else f"{text} (in variable {key!r})"
            ) from None
        finally:
            self.active.pop()
        self.done[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in self.raw or key in ENV.globals

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class Renderer:
    """Renders values against one set of variables (e.g. one host's)."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.names = list(variables)
        self.vars = _LazyVars(variables, self)

    def render(self, value: Any, depth: int = 0) -> Any:
        """Render every template string inside VALUE; TemplateError on failure."""
        if depth > MAX_NESTING:
            raise TemplateError("value nests too deeply")
        if isinstance(value, str):
            return self.render_str(value) if has_template(value) else value
        if isinstance(value, list):
            return [self.render(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: self.render(v, depth + 1) for k, v in value.items()}
        return value

    def render_str(self, source: str) -> Any:
        """Render one template string, within limits.RENDER_SECONDS of CPU time."""
        if source in _TOO_SLOW:
            raise TemplateError(_TOO_SLOW[source])
        try:
            return bounded(lambda: self._render_str(source), limits.RENDER_SECONDS)
        except TooSlow as err:
            message = f"{err} (a regex that backtracks too much, or a loop too long?)"
            _TOO_SLOW[source] = message
            raise TemplateError(message) from None

    def _render_str(self, source: str) -> Any:
        try:
            single = _SINGLE.match(source)
            if single and "{%" not in source and "{#" not in source:
                template = _compile_expr(single.group(1).strip())
                ctx = template.new_context(self.vars, shared=True)  # type: ignore[arg-type]
                for _ in template.root_render_func(ctx):
                    pass
                return _plain(check_size(ctx.vars["result"], "the result"))
            template = _compile(source)
            ctx = template.new_context(self.vars, shared=True)  # type: ignore[arg-type]
            return checked_join(template.root_render_func(ctx))
        except TemplateError:
            raise
        except jinja2.UndefinedError as err:
            raise TemplateError(self.undefined_message(str(err))) from None
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"template syntax error: {err.message}") from None
        except jinja2.sandbox.SecurityError as err:
            raise TemplateError(f"template not allowed: {err}") from None
        except RecursionError:
            raise TemplateError("template recursion too deep") from None
        except Exception as err:  # a filter or an operation failed on the user's data
            raise TemplateError(f"template failed: {type(err).__name__}: {err}") from None

    def undefined_message(self, text: str) -> str:
        m = _UNDEFINED.match(text)
        if not m:
            return f"undefined: {text}"
        name = m.group(1)
        return f"undefined variable {name!r}{did_you_mean(name, self.names)}"
