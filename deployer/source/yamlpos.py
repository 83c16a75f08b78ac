"""A safe YAML loader that keeps the line and column of every value and enforces limits.

It composes plain Python data (dict, list, str, int, float, bool, None) straight
from PyYAML's event stream, without recursion, and records where each mapping
key and each value sits. Hostile input is refused early with a clear problem:
anything `files.read_text` refuses (not a regular file, over `MAX_BYTES`, binary or
not UTF-8), nesting deeper than `MAX_DEPTH`, more than `MAX_NODES` values (counting
what aliases expand to: "billion laughs"), and integers too long for Python to read
or write out.
Aliases share the anchored object; positions then point at the anchor.
A caller may take local tags of its own on text values (`tags`: the inventory's `!vault`);
any other tag is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode

from deployer.source.files import MAX_BYTES, read_text
from deployer.source.ints import int_digits, int_fits
from deployer.source.problems import NOWHERE, Key, Mark, Problems

MAX_DEPTH = 64
MAX_NODES = 200_000

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_T = "tag:yaml.org,2002:"
_INT = _T + "int"
_PLAIN_TAGS = {_T + "int", _T + "float", _T + "bool", _T + "null", _T + "str"}
_AS_TEXT_TAGS = {_T + "timestamp", _T + "binary", "!unsafe", "!"}
Tags = Mapping[str, Callable[[str, Mark], object]]  # tag -> what a text value so tagged becomes


@dataclass
class Doc:
    """Loaded YAML data plus where each value came from."""

    file: str
    data: object
    root: Mark = NOWHERE
    spots: dict[int, dict[Key, tuple[Mark, Mark]]] = field(default_factory=dict)

    def pos(self, container: object, key: Key) -> Mark:
        """Where the value `container[key]` starts (the container's own spot if unknown)."""
        spot = self.spots.get(id(container), {}).get(key)
        return spot[1] if spot else self.own(container)

    def key_pos(self, container: object, key: Key) -> Mark:
        """Where the mapping key `key` of `container` is written."""
        spot = self.spots.get(id(container), {}).get(key)
        return spot[0] if spot else self.own(container)

    def own(self, container: object) -> Mark:
        spot = self.spots.get(id(container), {}).get("\0self")
        return spot[1] if spot else self.root


class _Frame:
    def __init__(self, value: dict[Any, Any] | list[Any], mark: Mark, anchor: str | None) -> None:
        self.value = value
        self.mark = mark
        self.anchor = anchor
        self.size = 1
        self.key: tuple[Any, Mark] | None = None
        self.merges: list[tuple[object, Mark]] = []


class _Abort(Exception):
    pass


def _mark(m: Any) -> Mark:
    return Mark(m.line + 1, m.column + 1) if m is not None else NOWHERE


def load_file(
    path: str, problems: Problems, what: str = "file", *, base60: bool = True
) -> Doc | None:
    """base60=False: a plain `22:22` is a problem (quote it), not YAML 1.1's base-60 1342:
    in a playbook it is always a port, a user or a limit typed without quotes."""
    text = read_text(path, problems, what)
    return None if text is None else load_text(text, path, problems, base60=base60)


def load_text(
    text: str, file: str, problems: Problems, tags: Tags | None = None, *, base60: bool = True
) -> Doc | None:
    """Parse one YAML document; on a fatal problem record it and return None."""
    if len(text) > MAX_BYTES:
        problems.add(file, None, (), f"file is too large (limit {MAX_BYTES} bytes)")
        return None
    loader = _Loader(file, problems, tags or {})
    loader.base60 = base60
    try:
        return loader.run(text)
    except _Abort:
        return None
    except yaml.MarkedYAMLError as err:
        mark = _mark(err.problem_mark or err.context_mark)
        what = " ".join(x for x in (err.context, err.problem) if x)
        if "nesting depth" in what:  # PyYAML >= 6.0.4 has a depth limit of its own
            problems.add(
                file, mark, (), f"YAML is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        else:
            problems.add(file, mark, (), f"YAML syntax error: {what}")
    except yaml.YAMLError as err:
        problems.add(file, None, (), f"YAML error: {err}")
    except (RecursionError, MemoryError):
        problems.add(file, None, (), "YAML is too deeply nested or too large")
    return None


class _Loader:
    base60 = True  # read `22:22` as YAML 1.1 does (Ansible's inventories), else refuse it

    def __init__(self, file: str, problems: Problems, tags: Tags) -> None:
        self.file = file
        self.problems = problems
        self.tags = tags
        self.doc = Doc(file, None)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[object, int, Mark] | None] = {}
        self.total = 0
        self.expanded = 0  # values that aliases add
        self.documents = 0
        self.result: tuple[object, Mark] | None = None

    def fail(self, mark: Mark, message: str) -> None:
        self.problems.add(self.file, mark, (), message)
        raise _Abort

    def run(self, text: str) -> Doc:
        for event in yaml.parse(text, Loader=_Parser):
            mark = _mark(event.start_mark)
            if isinstance(event, DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    self.fail(mark, "expected one YAML document, found a second one ('---')")
            elif isinstance(event, ScalarEvent):
                self.put(self.scalar(event, mark), 1, mark, event.anchor)
            elif isinstance(event, AliasEvent):
                self.alias(event.anchor or "", mark)
            elif isinstance(event, MappingStartEvent | SequenceStartEvent):
                self.start(event, mark)
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                self.end()
        if self.result is not None:
            self.doc.data, self.doc.root = self.result
        return self.doc

    def scalar(self, event: ScalarEvent, mark: Mark) -> object:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
        if tag in _AS_TEXT_TAGS:
            return event.value
        if tag in self.tags:
            return self.tags[tag](event.value, mark)
        if tag == _T + "merge":
            return _Merge()
        if tag not in _PLAIN_TAGS:
            self.problems.add(self.file, mark, (), f"unsupported YAML tag {tag!r}")
            return event.value
        if tag == _INT and ":" in event.value and not self.base60:
            self.problems.add(
                self.file,
                mark,
                self.where(),
                f"{event.value} without quotes is a base-60 number in YAML 1.1 "
                f"({_CONSTRUCTOR.construct_object(ScalarNode(tag, event.value))}): quote it "
                f'("{event.value}") if it is a port, a user or a limit',
            )
            return event.value
        long = len(event.value) > int_digits()
        if long and tag == _INT and sum(c.isalnum() for c in event.value) > int_digits():
            return self.long_int(event.value, mark)
        try:
            value = _CONSTRUCTOR.construct_object(ScalarNode(tag, event.value))
        except ValueError:  # e.g. Python's own limit on digits
            return self.long_int(event.value, mark)
        if isinstance(value, int) and not int_fits(value):
            return self.long_int(event.value, mark)
        return value

    def where(self) -> list[object]:
        """The key path of the value being read."""
        path: list[object] = []
        for frame in self.stack:
            if isinstance(frame.value, list):
                path.append(len(frame.value))
            elif frame.key is not None:
                path.append(frame.key[0])
        return path

    def long_int(self, text: str, mark: Mark) -> str:
        self.problems.add(
            self.file,
            mark,
            self.where(),
            f"integer too large (more than {int_digits()} digits); quote it if it is text",
        )
        return text

    def start(self, event: MappingStartEvent | SequenceStartEvent, mark: Mark) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self.fail(mark, f"YAML is nested too deeply (more than {MAX_DEPTH} levels)")
        tag = event.tag
        if tag in self.tags:
            self.problems.add(self.file, mark, (), f"YAML tag {tag!r} applies to a text value only")
        elif tag not in (None, "!", _T + "map", _T + "seq", _T + "omap", _T + "set"):
            self.problems.add(self.file, mark, (), f"unsupported YAML tag {tag!r}")
        value: dict[Any, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        self.count(1, mark)
        frame = _Frame(value, mark, event.anchor)
        if event.anchor:
            self.anchors[event.anchor] = None  # in progress: aliasing it is recursion
        self.doc.spots.setdefault(id(value), {})["\0self"] = (mark, mark)
        self.stack.append(frame)

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            self.apply_merges(frame)
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.value, frame.size, frame.mark)
        self.put(frame.value, frame.size, frame.mark, None, counted=True)

    def alias(self, name: str, mark: Mark) -> None:
        if name not in self.anchors:
            self.fail(mark, f"alias *{name} refers to no anchor &{name} defined before it")
        found = self.anchors[name]
        if found is None:
            self.fail(mark, f"alias *{name} refers to a value that contains it (recursive)")
            return
        value, size, _ = found
        self.expanded += size - 1
        self.put(value, size, mark, None)

    def count(self, n: int, mark: Mark) -> None:
        self.total += n
        if self.total > MAX_NODES:
            self.too_many(mark)

    def too_many(self, mark: Mark) -> None:
        if self.expanded * 2 > self.total:  # most of the values come from aliases
            self.fail(
                mark,
                f"YAML expands to more than {MAX_NODES} values (too many aliases; an alias bomb?)",
            )
        self.fail(mark, f"YAML has more than {MAX_NODES} values (the limit)")

    def put(
        self, value: object, size: int, mark: Mark, anchor: str | None, counted: bool = False
    ) -> None:
        if anchor:
            self.anchors[anchor] = (value, size, mark)
        if not counted and (size > 1 or not isinstance(value, dict | list)):
            self.count(size, mark)
        if not self.stack:
            self.result = (value, mark)
            return
        parent = self.stack[-1]
        parent.size += size
        if parent.size > MAX_NODES:
            self.too_many(mark)
        spots = self.doc.spots.setdefault(id(parent.value), {})
        if isinstance(parent.value, list):
            spots[len(parent.value)] = (mark, mark)
            parent.value.append(value)
            return
        if parent.key is None:
            parent.key = (self.as_key(value, mark), mark)
            return
        key, key_mark = parent.key
        parent.key = None
        if isinstance(key, _Merge):
            parent.merges.append((value, mark))
        elif key in parent.value:
            first = spots[key][0]
            self.problems.add(
                self.file,
                key_mark,
                (),
                f"duplicate key {key!r} (first defined on line {first.line})",
            )
        else:
            parent.value[key] = value
            spots[key] = (key_mark, mark)

    def as_key(self, value: object, mark: Mark) -> object:
        if isinstance(value, dict | list):
            self.problems.add(self.file, mark, (), "a mapping key must be a plain value")
            return f"<complex key at line {mark.line}>"
        return value

    def apply_merges(self, frame: _Frame) -> None:
        assert isinstance(frame.value, dict)
        spots = self.doc.spots[id(frame.value)]
        for source, mark in frame.merges:
            sources = source if isinstance(source, list) else [source]
            for one in sources:
                if not isinstance(one, dict):
                    self.problems.add(self.file, mark, (), "'<<' merges only mappings")
                    continue
                for key, val in one.items():
                    if key not in frame.value:
                        frame.value[key] = val
                        spots[key] = self.doc.spots.get(id(one), {}).get(key, (mark, mark))


class _Merge:
    """Marks the YAML merge key `<<`."""

    def __hash__(self) -> int:
        return id(self)
