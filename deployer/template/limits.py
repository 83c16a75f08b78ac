"""Bounds on what one template may cost: output size, integer size, and time.

Size. Every operation that can build a long string out of a short input is checked
*before* it runs (Python would allocate the whole result first): `*`, `+`, `%`,
`str.format` and the `format` filter (field widths and precisions), `center`,
`ljust`, `rjust`, `zfill`, `expandtabs`, `replace`, `join`, `translate`, `indent`,
`wordwrap`, `batch`, `slice`, growing a list or dict in place, and turning a value
into text (`{{ }}`, `~`, `string`, `to_json`, ...), where the size counted is the
size written out: a list holding the same long string 1,000 times counts 1,000 times.
Integers may not grow past the digits Python can write out (4,300).

Time. A render runs under a CPU-time timer (setitimer ITIMER_PROF, SIGPROF) whose
handler raises `RenderTimeout` inside it, once. Python checks for signals between
bytecodes, and the `re` engine does every few thousand steps, so a loop too long and
a regex that backtracks catastrophically (`(a+)+$`) are both stopped at the budget,
wherever they are, with the exact semantics of `re` kept. (A watchdog thread cannot
interrupt `re`; a regex engine of our own would be slow and differ from `re`; a
process per regex would cost a fork each.) Signals are handled by the main thread
only, where the command line renders; a render in another thread has no time bound,
and there the regex filters refuse to run rather than risk hanging.
"""

from __future__ import annotations

import functools
import re
import signal
import threading
from collections.abc import Callable, ItemsView, Iterable, KeysView, Sized, ValuesView
from typing import Any, TypeVar

from jinja2.sandbox import SecurityError
from jinja2.utils import Namespace

from deployer.source.ints import int_digits, int_fits

MAX_RESULT = 1_000_000  # characters (or items) a single value or operation may produce
RENDER_SECONDS = 2.0  # CPU seconds one template (with the variables it uses) may take
T = TypeVar("T")


class RenderTimeout(BaseException):
    """Raised inside a render by the timer; a BaseException so `except Exception` misses it."""


class TooSlow(Exception):
    """The render was stopped at its time budget."""


def too_large(what: str) -> SecurityError:
    return SecurityError(f"{what} is too large (more than {MAX_RESULT:,} characters)")


def check_int(n: int) -> int:
    if not int_fits(n):
        raise SecurityError(f"integer result has more than {int_digits()} digits")
    return n


def weight(value: object, limit: int = MAX_RESULT) -> int:
    """About how many characters VALUE takes written out; stops counting past LIMIT."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v) + 2
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += check_int(v).bit_length() * 30103 // 100_000 + 2
        elif isinstance(v, float):
            total += 24
        elif isinstance(v, dict):
            total += 2 + 4 * len(v)
            if total <= limit:
                stack.extend(v.keys())
                stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            total += 2 + 2 * len(v)
            if total <= limit:
                stack.extend(v)
        elif isinstance(v, Namespace):
            stack.append(object.__getattribute__(v, "_Namespace__attrs"))
        else:  # loop, range, cycler, generator, undefined, ...: a short text
            total += 64
    return total


def check_size(value: T, what: str = "the value") -> T:
    if weight(value) > MAX_RESULT:
        raise too_large(what)
    return value


def check_result(value: T) -> T:
    """Cheap checks of an operation's result: the length of a string, the size of an int."""
    if isinstance(value, str | bytes) and len(value) > MAX_RESULT:
        raise too_large("the result")
    if isinstance(value, int) and not isinstance(value, bool):
        check_int(value)
    return value


def _number(value: object, what: str) -> None:
    if isinstance(value, int) and abs(value) > MAX_RESULT:
        raise too_large(what)


def checked_join(parts: Iterable[str]) -> str:
    """Join PARTS, refused as soon as the total gets too long."""
    out: list[str] = []
    total = 0
    for part in parts:
        total += len(part)
        if total > MAX_RESULT:
            raise too_large("the rendered text")
        out.append(part)
    return "".join(out)


# -- %-formatting and str.format ------------------------------------------------------
_PERCENT = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.S)


def check_percent(fmt: str, args: object) -> None:
    """FMT % ARGS: every width and precision (given or `*`) and the arguments' size."""
    check_size(args, "the '%' arguments")
    items = args if isinstance(args, tuple) else (args,)
    i = 0
    for m in _PERCENT.finditer(fmt):
        key, width, precision, conversion = m.groups()
        if conversion == "%" and not (width or precision):
            continue
        for part in (width, precision):
            if part == "*":
                _number(items[i] if i < len(items) else 0, "a '%' field")
                i += 1
            elif part and (len(part) > 9 or int(part) > MAX_RESULT):
                raise too_large("a '%' field")
        if key is None:
            i += 1


_SPEC_NUMBER = re.compile(r"\d+")


def check_format_spec(spec: str) -> None:
    for number in _SPEC_NUMBER.findall(spec):
        if len(number) > 9 or int(number) > MAX_RESULT:
            raise too_large("a format field")


# -- calls: str methods, growing containers, lipsum ---------------------------------------
def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _replaced_size(s: str | bytes, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(s)
    n = (len(s) + 1) if not old else s.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(s) + n * max(0, len(new) - len(old))


def check_str_method(
    s: str | bytes, name: str, args: tuple[Any, ...], kw: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse a str (or bytes) method call whose result would be too long; return ARGS
    (an iterable to join made a list, so that it can be measured and still joined)."""
    if name in ("center", "ljust", "rjust", "zfill"):
        _number(_arg(args, kw, 0, "width", 0), f"{name}()")
    elif name == "expandtabs":
        tab = _arg(args, kw, 0, "tabsize", 8)
        if isinstance(tab, int) and len(s) * max(tab, 1) > MAX_RESULT:
            raise too_large("expandtabs()")
    elif name == "replace":
        old, new, count = (
            _arg(args, kw, 0, "old", ""),
            _arg(args, kw, 1, "new", ""),
            _arg(args, kw, 2, "count", -1),
        )
        if _replaced_size(s, old, new, count) > MAX_RESULT:
            raise too_large("replace()")
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], list | tuple) else list(args[0])
        if weight(items) + len(s) * len(items) > MAX_RESULT:
            raise too_large("join()")
        return (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((weight(v) for v in args[0].values()), default=1)
        if len(s) * longest > MAX_RESULT:
            raise too_large("translate()")
    return args


def check_growth(
    owner: list[Any] | dict[Any, Any] | set[Any], name: str, args: tuple[Any, ...]
) -> None:
    """A list, dict or set method may not take it past MAX_RESULT items (`l.extend(l)` doubles)."""
    added = 1
    if name in ("extend", "update", "union", "__ior__") and args:
        added = sum(len(a) for a in args if isinstance(a, Sized))  # others: checked after
    if len(owner) + added > MAX_RESULT:
        raise SecurityError(f"a list or mapping would hold more than {MAX_RESULT:,} items")


# -- filters -----------------------------------------------------------------------------
# Filters that never write their input out as text and make nothing much larger than
# it: no check of the input's size (it may be a long list whose length is all we need).
STRUCTURAL = frozenset(
    "abs attr batch bool count d default dictsort first float groupby int items last length "
    "list mandatory map max min random reject rejectattr reverse round select selectattr "
    "slice sort sum ternary unique".split()
)


def _check_filter_args(name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a filter call whose result would be too long; return ARGS (see join)."""
    value: Any = args[0] if args else None
    if name == "join" and not isinstance(value, list | tuple | str | dict):
        value = list(value)  # a generator (`map`, `select`): measured here, joined below
        args = (value, *args[1:])
    if name not in STRUCTURAL:
        check_size(value, f"the input of '{name}'")
    if name == "center":
        _number(_arg(args, kw, 1, "width", 80), "center")
    elif name in ("batch", "slice"):
        _number(_arg(args, kw, 1, "linecount" if name == "batch" else "slices", 1), name)
    elif name == "format":
        check_percent(str(value), kw or tuple(args[1:]))
    elif name == "indent":
        width = _arg(args, kw, 1, "width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if (str(value).count("\n") + 1) * pad + len(str(value)) > MAX_RESULT:
            raise too_large("indent")
    elif name == "wordwrap":
        width = _arg(args, kw, 1, "width", 79)
        wrap = _arg(args, kw, 3, "wrapstring", None) or "\n"
        lines = len(str(value)) // max(width if isinstance(width, int) else 1, 1) + 1
        if len(str(value)) + lines * len(str(wrap)) > MAX_RESULT:
            raise too_large("wordwrap")
    elif name == "replace" and isinstance(value, str):
        old, new = _arg(args, kw, 1, "old", ""), _arg(args, kw, 2, "new", "")
        if _replaced_size(value, old, new, _arg(args, kw, 3, "count", None)) > MAX_RESULT:
            raise too_large("replace")
    elif name == "join":
        if weight(value) + len(str(_arg(args, kw, 1, "d", ""))) * len(value) > MAX_RESULT:
            raise too_large("join")
    return args


def guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """FN with its arguments checked before and its result after."""
    skip = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        args = (*args[:skip], *_check_filter_args(name, args[skip:], kwargs))
        return check_result(fn(*args, **kwargs))

    return guarded


# -- time --------------------------------------------------------------------------------
# All three are used by the main thread only (the only one that can have the timer).
_active = False  # a bounded render is running (a nested one shares its budget)
_armed = False  # the timer's signal may still raise, once
_fired = False  # it has


def _expire(signum: int, frame: object) -> None:
    # Raises at most once per render, and only inside it: a second exception could land
    # in the clean-up below and escape; `_fired` still tells if the first was swallowed.
    global _armed, _fired
    if _armed:
        _armed, _fired = False, True
        raise RenderTimeout


def timer_running() -> bool:
    """True inside a render that the timer bounds (never in another thread)."""
    return _active and threading.current_thread() is threading.main_thread()


def bounded(fn: Callable[[], T], seconds: float) -> T:
    """fn() stopped after SECONDS of CPU time (TooSlow); nested calls share the outer budget."""
    global _active, _armed, _fired
    if not _timer_usable() or _active:
        return fn()
    previous = signal.signal(signal.SIGPROF, _expire)
    other_timer = signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        _active, _armed, _fired = True, True, False
        result = fn()
    except RenderTimeout:
        raise TooSlow(f"rendering took more than {seconds:g} s of CPU time") from None
    finally:
        _armed = _active = False
        signal.setitimer(signal.ITIMER_PROF, *other_timer)
        signal.signal(signal.SIGPROF, previous)
    if _fired:  # raised, and caught by something inside the render
        raise TooSlow(f"rendering took more than {seconds:g} s of CPU time")
    return result


def _timer_usable() -> bool:
    """Signals are handled in the main thread only; a handler set outside Python (None)
    could not be put back."""
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGPROF) is not None
    )
