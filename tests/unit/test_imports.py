"""Imports run one way (docs: /ARCHITECTURE.md, "Never: ...").

Every module of the `deployer` package is parsed with `ast`, never imported. Module level
and function level imports count, and so do imports under `if TYPE_CHECKING:`. The rules
are plain functions over the scanned modules, so the last tests can feed them a small
fake package and see each one catch its violation (no rule passes for lack of looking).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "deployer"

# What reads the user's files, in the order data flows: each room imports only rooms before
# it (the inventory knows no playbook; the YAML/problem machinery knows neither).
READING = ("deployer.source", "deployer.template", "deployer.inventory", "deployer.config")
LOWER = (*READING, "deployer.plan", "deployer.model")
UPPER = (
    "deployer.docker",
    "deployer.remote",
    "deployer.engine",
    "deployer.targets",
    "deployer.health",
    "deployer.report",
    "deployer.cli",
)
SSH_LIBRARIES = ("paramiko", "fabric")
SSH_ROOMS = ("deployer.remote", "deployer.lab")  # the lab drives its own machines
ENTRY_POINT = "deployer.__main__"
SILENT = ("deployer.engine", "deployer.health")
PRINTING = ("print", "click.echo", "click.secho")


@dataclass(frozen=True)
class Use:
    """An import of a module, or a call of a function, at a line of a module."""

    target: str
    line: int


@dataclass
class Module:
    name: str
    path: str
    imports: list[Use] = field(default_factory=list)
    calls: list[Use] = field(default_factory=list)

    def at(self, use: Use) -> str:
        return f"{self.path}:{use.line}"


def within(name: str, rooms: Iterable[str]) -> bool:
    """NAME is one of ROOMS or inside one of them (`deployer.config.x` is in `deployer.config`)."""
    return any(name == room or name.startswith(room + ".") for room in rooms)


# -- scanning ----------------------------------------------------------------------------------


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module under ROOT (a package folder)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(
    node: ast.Import | ast.ImportFrom, here: str, is_package: bool, known: set[str]
) -> Iterator[tuple[str, str | None, str]]:
    """(module imported, the name bound to it or to a member, what that name stands for)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            yield alias.name, bound, alias.name if alias.asname else bound
        return
    base = node.module or ""
    if node.level:
        package = here if is_package else here.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        full = f"{base}.{alias.name}"
        yield (full if full in known else base), alias.asname or alias.name, full


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def scan_module(name: str, path: Path, known: set[str], shown: str) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = Module(name, shown)
    aliases: dict[str, str] = {}  # a name bound by an import -> the dotted name it stands for
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, bound, meaning in _imported(node, name, is_package, known):
                if Use(target, node.lineno) not in module.imports:  # `from m import a, b`: once
                    module.imports.append(Use(target, node.lineno))
                if bound is not None:
                    aliases[bound] = meaning
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called is not None:
                head, _, rest = called.partition(".")
                head = aliases.get(head, head)
                call = Use(f"{head}.{rest}" if rest else head, node.lineno)
                module.calls.append(call)
                loaded = _loaded_by_name(call.target, node)
                if loaded is not None:
                    module.imports.append(Use(loaded, node.lineno))
    return module


def _loaded_by_name(function: str, call: ast.Call) -> str | None:
    """`importlib.import_module("x")` and `importlib.util.find_spec("x")`: a module by name."""
    if function not in ("importlib.import_module", "importlib.util.find_spec"):
        return None
    first = call.args[0] if call.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def scan(root: Path) -> dict[str, Module]:
    """Every module of the package at ROOT, by dotted name."""
    names = module_names(root)
    known = set(names)
    return {
        name: scan_module(name, path, known, str(path.relative_to(root.parent)))
        for name, path in names.items()
    }


# -- the rules: each returns its offenders, one line each ---------------------------------------


def _edges(mods: dict[str, Module]) -> dict[str, dict[str, Use]]:
    """module -> {module of the package it imports: the first such import}."""
    out: dict[str, dict[str, Use]] = {}
    for name, mod in mods.items():
        out[name] = {}
        for use in mod.imports:
            if use.target in mods and use.target not in out[name]:
                out[name][use.target] = use
    return out


def _components(graph: dict[str, dict[str, Use]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, without recursion), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    work: list[tuple[str, Iterator[str]]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, iter(sorted(graph[node]))))

    for start in sorted(graph):
        if start in index:
            continue
        visit(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        part.append(top)
                        if top == node:
                            break
                    found.append(sorted(part))
            elif child not in index:
                visit(child)
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _cycle_through(start: str, members: set[str], graph: dict[str, dict[str, Use]]) -> list[str]:
    """A shortest path START -> ... -> START inside MEMBERS (breadth first)."""
    previous: dict[str, str] = {}
    level = [start]
    while level:
        nxt = []
        for node in level:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        level = nxt
    return [start, start]


def _circles(
    graph: dict[str, dict[str, Use]], at: dict[tuple[str, str], str], what: str
) -> list[str]:
    """One line per circle of GRAPH: a shortest loop, where each step is written (AT)."""
    out = []
    for part in _components(graph):
        if len(part) == 1 and part[0] not in graph[part[0]]:
            continue
        cycle = _cycle_through(part[0], set(part), graph)
        steps = ", ".join(at[a, b] for a, b in zip(cycle, cycle[1:], strict=False))
        rest = f" (the circle joins {len(part)} {what}: {', '.join(part)})" if len(part) > 2 else ""
        out.append(f"{' -> '.join(cycle)}  [{steps}]{rest}")
    return out


def import_circles(mods: dict[str, Module]) -> list[str]:
    graph = _edges(mods)
    at = {(a, b): mods[a].at(use) for a, uses in graph.items() for b, use in uses.items()}
    return _circles(graph, at, "modules")


def room_of(name: str) -> str:
    """The room a module lives in: `deployer.inventory.load` -> `deployer.inventory`."""
    return ".".join(name.split(".")[:2])


def room_circles(mods: dict[str, Module]) -> list[str]:
    """Circles between rooms (deployer's folders and top-level modules): config -> inventory
    and inventory -> config is one even when no two modules import each other."""
    graph: dict[str, dict[str, Use]] = {room_of(name): {} for name in mods}
    at: dict[tuple[str, str], str] = {}
    for name, uses in sorted(_edges(mods).items()):
        here = room_of(name)
        for target, use in uses.items():
            there = room_of(target)
            if there != here and there not in graph[here]:
                graph[here][there] = use
                at[here, there] = f"{mods[name].at(use)} {name} imports {target}"
    return _circles(graph, at, "rooms")


def _imports_where(
    mods: dict[str, Module], importer: Iterable[str] | None, bad: object
) -> list[str]:
    """'path:line: module imports target' for each import of a module in IMPORTER (None: any)
    whose target BAD(module, target) refuses."""
    rooms = None if importer is None else tuple(importer)
    out = []
    for name, mod in sorted(mods.items()):
        if rooms is not None and not within(name, rooms):
            continue
        for use in mod.imports:
            if bad(name, use.target):  # type: ignore[operator]
                out.append(f"{mod.at(use)}: {name} imports {use.target}")
    return out


def lower_rooms_import_upper(mods: dict[str, Module]) -> list[str]:
    return _imports_where(mods, LOWER, lambda _name, target: within(target, UPPER))


def reading_rooms_import_later(mods: dict[str, Module]) -> list[str]:
    def later(name: str, target: str) -> bool:
        rank = next(i for i, room in enumerate(READING) if within(name, [room]))
        return within(target, READING[rank + 1 :])

    return _imports_where(mods, READING, later)


def _stdlib(target: str) -> bool:
    top = target.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__"


def plan_imports_beyond_model(mods: dict[str, Module]) -> list[str]:
    allowed = ("deployer.model", "deployer.plan")
    return _imports_where(
        mods, ["deployer.plan"], lambda _n, target: not (_stdlib(target) or within(target, allowed))
    )


def cli_imported_from_outside(mods: dict[str, Module]) -> list[str]:
    return _imports_where(
        mods,
        None,
        lambda name, target: (
            within(target, ["deployer.cli"]) and not within(name, ["deployer.cli", ENTRY_POINT])
        ),
    )


def ssh_library_outside_remote(mods: dict[str, Module]) -> list[str]:
    return _imports_where(
        mods,
        None,
        lambda name, target: within(target, SSH_LIBRARIES) and not within(name, SSH_ROOMS),
    )


def _calls_where(mods: dict[str, Module], calls: Iterable[str], keep: object) -> list[str]:
    wanted = set(calls)
    return [
        f"{mod.at(use)}: {name} calls {use.target}"
        for name, mod in sorted(mods.items())
        if keep(name)  # type: ignore[operator]
        for use in mod.calls
        if use.target in wanted
    ]


def exits_outside_cli(mods: dict[str, Module]) -> list[str]:
    return _calls_where(
        mods, ["sys.exit"], lambda name: not within(name, ["deployer.cli", ENTRY_POINT])
    )


def engine_or_health_prints(mods: dict[str, Module]) -> list[str]:
    return _calls_where(mods, PRINTING, lambda name: within(name, SILENT))


RULES = {
    "no import circles between modules": import_circles,
    "no import circles between rooms": room_circles,
    "config, inventory, template, source, plan and model import nothing from docker, remote, "
    "engine, targets, health, report or cli": lower_rooms_import_upper,
    "source, template, inventory, config: each imports none of the rooms after it (source "
    "imports neither inventory nor config, inventory nothing of config)": reading_rooms_import_later,
    "plan imports only deployer.model and the standard library": plan_imports_beyond_model,
    "nothing outside deployer.cli (and deployer/__main__.py) imports deployer.cli": cli_imported_from_outside,
    "only deployer.remote and deployer.lab import paramiko or fabric": ssh_library_outside_remote,
    "nothing outside deployer.cli (and deployer/__main__.py) calls sys.exit": exits_outside_cli,
    "deployer.engine and deployer.health never call print() or click.echo": engine_or_health_prints,
}


# -- the real package ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    mods = scan(PACKAGE)
    assert "deployer.inventory.load" in mods and "deployer.engine.rollout" in mods
    return mods


@pytest.mark.parametrize("rule", list(RULES), ids=[f.__name__ for f in RULES.values()])
def test_rule_holds(package: dict[str, Module], rule: str) -> None:
    offenders = RULES[rule](package)
    assert not offenders, f"{rule}; offenders:\n  " + "\n  ".join(offenders)


# -- what pyproject.toml asks pip to install is what the package imports ----------------------

IMPORT_NAMES = {"pyyaml": "yaml"}  # distributions whose module has another name


def runtime_dependencies(pyproject: Path) -> dict[str, str]:
    """Distribution -> the module it provides, for [project] dependencies."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = [re.split(r"[<>=!~\[;@ ]", dep, maxsplit=1)[0].strip().lower() for dep in deps]
    return {name: IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


def unused_dependencies(mods: dict[str, Module], deps: dict[str, str]) -> list[str]:
    used = {use.target.split(".")[0] for mod in mods.values() for use in mod.imports}
    return [f"{dist} (module {module})" for dist, module in deps.items() if module not in used]


def test_every_runtime_dependency_is_imported(package: dict[str, Module]) -> None:
    deps = runtime_dependencies(PACKAGE.parent / "pyproject.toml")
    assert {"pyyaml", "paramiko", "docker"} <= deps.keys()
    unused = unused_dependencies(package, deps)
    assert not unused, "in pyproject.toml's dependencies but never imported by deployer: " + (
        ", ".join(unused)
    )


def test_an_unused_dependency_is_caught(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["PyYAML>=6", "docker>=7", "pydantic[email]>=2.6",'
        " \"typing-extensions; python_version < '3.12'\"]\n"
    )
    mods = _fake(
        tmp_path,
        {
            "__init__.py": "import yaml\n",
            "sdk.py": "import importlib.util\nimportlib.util.find_spec('docker')\n",
        },
    )
    deps = runtime_dependencies(tmp_path / "pyproject.toml")
    assert unused_dependencies(mods, deps) == [
        "pydantic (module pydantic)",
        "typing-extensions (module typing_extensions)",
    ]


# -- the rules catch what they are for ----------------------------------------------------------

BAD = {
    "__init__.py": "",
    "__main__.py": "import sys\nfrom deployer.cli import main\nsys.exit(main())\n",
    "model.py": "from deployer.remote.ssh import Session\n",
    "config/__init__.py": "from deployer.config.a import A\n",
    "config/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
    "    from deployer.config.b import B\nA = 1\n",
    "config/b.py": "def f():\n    from . import a\n    import paramiko\n",
    "config/c.py": "from deployer.inventory import load\n",  # allowed, but closes a room circle
    "inventory/__init__.py": "from deployer.config.a import A\n",
    "inventory/load.py": "import deployer.report\n",
    "template/__init__.py": "from deployer.source import files\nfrom deployer.config import a\n",
    "source/__init__.py": "from deployer.inventory import load\n",
    "plan/__init__.py": "import json\nfrom deployer import errors\nfrom deployer.model import M\n",
    "errors.py": "",
    "remote/__init__.py": "",
    "remote/ssh.py": "import fabric\nimport paramiko.client\n",
    "engine/__init__.py": "",
    "engine/run.py": "from sys import exit as leave\nimport click as c\n"
    "def go():\n    print('x')\n    c.echo('y')\n    leave(1)\n",
    "health/__init__.py": "from ..cli import helpers\n",
    "cli/__init__.py": "import sys\nsys.exit(0)\n",
    "cli/helpers.py": "import click\nclick.echo('fine here')\n",
    "lab/__init__.py": "import paramiko\n",
}


def _fake(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp_path / "deployer"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return scan(root)


def test_rules_catch_violations(tmp_path: Path) -> None:
    mods = _fake(tmp_path, BAD)
    found = {rule: RULES[rule](mods) for rule in RULES}
    circles, room_loops, lower, reading, plan, cli, ssh, exits, prints = found.values()
    assert circles == [
        "deployer.config.a -> deployer.config.b -> deployer.config.a  "
        "[deployer/config/a.py:3, deployer/config/b.py:2]"
    ]
    assert room_loops == [
        "deployer.config -> deployer.inventory -> deployer.config  "
        "[deployer/config/c.py:1 deployer.config.c imports deployer.inventory.load, "
        "deployer/inventory/__init__.py:1 deployer.inventory imports deployer.config.a]"
    ]
    assert lower == [
        "deployer/inventory/load.py:1: deployer.inventory.load imports deployer.report",
        "deployer/model.py:1: deployer.model imports deployer.remote.ssh",
    ]
    assert reading == [
        "deployer/inventory/__init__.py:1: deployer.inventory imports deployer.config.a",
        "deployer/source/__init__.py:1: deployer.source imports deployer.inventory.load",
        "deployer/template/__init__.py:2: deployer.template imports deployer.config.a",
    ]
    assert plan == ["deployer/plan/__init__.py:2: deployer.plan imports deployer.errors"]
    assert cli == ["deployer/health/__init__.py:1: deployer.health imports deployer.cli.helpers"]
    assert ssh == ["deployer/config/b.py:3: deployer.config.b imports paramiko"]
    assert exits == ["deployer/engine/run.py:6: deployer.engine.run calls sys.exit"]
    assert prints == [
        "deployer/engine/run.py:4: deployer.engine.run calls print",
        "deployer/engine/run.py:5: deployer.engine.run calls click.echo",
    ]


def test_a_longer_circle_is_reported_whole(tmp_path: Path) -> None:
    mods = _fake(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "import deployer.b\n",
            "b.py": "from deployer import c\n",
            "c.py": "from . import a\n",
            "d.py": "import deployer.a\n",  # leads into the circle, not part of it
        },
    )
    assert import_circles(mods) == [
        "deployer.a -> deployer.b -> deployer.c -> deployer.a  "
        "[deployer/a.py:1, deployer/b.py:1, deployer/c.py:1] "
        "(the circle joins 3 modules: deployer.a, deployer.b, deployer.c)"
    ]


def test_a_clean_package_passes(tmp_path: Path) -> None:
    mods = _fake(
        tmp_path,
        {
            "__init__.py": "",
            "__main__.py": "import sys\nfrom deployer.cli import main\nsys.exit(main())\n",
            "model.py": "import dataclasses\n",
            "plan/__init__.py": "from __future__ import annotations\nimport json\n"
            "from deployer.model import M\nfrom . import rules\n",
            "plan/rules.py": "from deployer import model\n",
            "config/__init__.py": "from deployer.config.a import A\n",
            "config/a.py": "import yaml\nfrom deployer.model import M\n"
            "from deployer.inventory import I\nfrom deployer.template.render import R\n"
            "from deployer.source import files\n",
            "inventory/__init__.py": "from deployer.inventory.load import I\n",
            "inventory/load.py": "from deployer.source.problems import P\nfrom deployer import model\n"
            "from deployer.template import render\n",
            "template/render.py": "import jinja2\nfrom deployer.source.ints import n\n",
            "source/__init__.py": "",
            "source/files.py": "from deployer.source.problems import P\nfrom deployer import errors\n",
            "source/problems.py": "from deployer.errors import ConfigError\n",
            "errors.py": "",
            "engine/__init__.py": "def f(console):\n    console.print('a rich console is no print')\n",
            "remote/ssh.py": "import paramiko\n",
            "cli/__init__.py": "import sys, click\nfrom deployer.engine import f\n"
            "click.echo('x')\nsys.exit(0)\n",
        },
    )
    assert {rule: RULES[rule](mods) for rule in RULES} == {rule: [] for rule in RULES}
