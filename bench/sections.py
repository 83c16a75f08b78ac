"""BENCHMARKS.md holds sections that different benches rewrite, each between its own
BEGIN and END comment lines."""

from __future__ import annotations

from pathlib import Path


def put_section(path: Path, begin: str, end: str, lines: list[str]) -> None:
    """Replace the section between `begin` and `end` (both part of `lines`) in the file at
    `path`, or append it when the file has none yet."""
    text = path.read_text()
    block = "\n".join(lines)
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
