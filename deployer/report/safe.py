"""Text that came from a host, made harmless to show on an operator's terminal.

A container's log line, a name, an image, an error text or a lock record can carry
escape sequences (clear the screen, set the window title, write the clipboard with
OSC 52, CSI as the single byte 0x9b) or bidi overrides that reorder what is shown.
Every text output shows such characters visibly instead (`\\x1b`, `\\u202e`), and
`markup` also keeps rich from reading `[red]` in them as a style.
JSON output needs none of this: JSON escapes them itself.
"""

from __future__ import annotations

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# Bidi embeddings, overrides, isolates and marks; line and paragraph separators.
_FORMAT = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _table(keep_newline: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        table[code] = _NAMED.get(code, f"\\x{code:02x}")
    for code in _FORMAT:
        table[code] = f"\\u{code:04x}"
    if keep_newline:
        del table[0x0A]
    return table


_LINE = _table(keep_newline=False)
_BLOCK = _table(keep_newline=True)


def visible(text: object, *, multiline: bool = False) -> str:
    """TEXT with every control character (C0, DEL, C1) and bidi control shown as an escape;
    with `multiline`, newlines stay (for a block printed as several lines)."""
    return str(text).translate(_BLOCK if multiline else _LINE)


def markup(text: object, *, multiline: bool = False) -> str:
    """`visible(TEXT)` to embed in a rich markup string: `[` can start no style."""
    from rich.markup import escape

    return escape(visible(text, multiline=multiline))
