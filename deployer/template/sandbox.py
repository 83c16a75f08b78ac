"""The Jinja sandbox of templates, with the size bounds of `limits` built in.

Binary operators, calls, `str.format`, `~`, block captures and every `{{ }}` output
pass through checks that refuse, before it is built, a value that would be too long
(and an integer too large to write out). See limits.py for what is bounded and why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter, SecurityError
from jinja2.utils import generate_lorem_ipsum
from markupsafe import EscapeFormatter, Markup

from deployer.source.ints import int_digits
from deployer.template.limits import (
    MAX_RESULT,
    check_format_spec,
    check_growth,
    check_percent,
    check_result,
    check_size,
    check_str_method,
    checked_join,
    too_large,
)

MAX_EXPONENT = 1000


class _Formatter(SandboxedFormatter):
    """str.format with every field's width, precision and value checked."""

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.total = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return super().convert_field(check_size(value, "a format field"), conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        text = check_result(super().format_field(check_size(value, "a format field"), format_spec))
        self.total += len(text)
        if self.total > MAX_RESULT:
            raise too_large("the formatted text")
        return text


class _EscapeFormatter(_Formatter, EscapeFormatter):
    pass


class _CodeGen(CodeGenerator):
    """`a ~ b` checks the size of its parts before it writes them out."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.sized((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if isinstance(n, int) and isinstance(max, int) and n * max * 12 > MAX_RESULT:
        raise too_large("lipsum()")
    return generate_lorem_ipsum(n, html, min, max)


class Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "-", "%", "/", "//"])
    code_generator_class = _CodeGen
    concat = staticmethod(checked_join)  # block captures, macros, `{% filter %}`

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self.sized, **options)
        self.globals["lipsum"] = _lipsum

    @staticmethod
    def sized(value: Any) -> Any:
        """Each `{{ }}` output and the parts of `~`, before they are written out as text."""
        return check_size(value, "the text of a value")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and isinstance(left, int | float):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large")
            # The result's digits, at least, before computing it (a larger one is caught after).
            if isinstance(left, int) and right > 0:
                if (abs(left).bit_length() - 1) * right * 0.30103 > int_digits():
                    raise SecurityError(f"integer result has more than {int_digits()} digits")
        elif operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_RESULT:
                        raise too_large("the result of '*'")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                if len(left) + len(right) > MAX_RESULT:
                    raise too_large("the result of '+'")
        elif operator == "%" and isinstance(left, str):
            check_percent(left, right)
        return check_result(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, str | bytes):
            args = check_str_method(owner, name, args, kwargs)
        elif isinstance(owner, list | dict | set):
            check_growth(owner, name, args)
        result = check_result(context.call(obj, *args, **kwargs))
        if isinstance(owner, list | dict | set):
            check_growth(owner, "", ())
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """As Jinja's, with the checking formatter."""
        if getattr(value, "__name__", None) not in ("format", "format_map"):
            return None
        f_self = getattr(value, "__self__", None)
        if not isinstance(f_self, str) or not callable(value):
            return None
        str_type: type[str] = type(f_self)
        is_format_map = value.__name__ == "format_map"
        formatter: _Formatter
        if isinstance(f_self, Markup):
            formatter = _EscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _Formatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return update_wrapper(wrapper, value)
