"""The package's shape: commands on top, no import cycles, no command imported by the library."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from pipeline.__main__ import COMMANDS

PACKAGE = ROOT / "pipeline"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports, at any depth (functions too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_takes_part_in_an_import_cycle():
    graph = import_graph()
    assert len(graph) > 40
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_top_level_holds_the_commands_and_nothing_imports_them():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top == set(COMMANDS)
    commands = {f"pipeline.{name}" for name in COMMANDS}
    for module, imported in import_graph().items():
        if module != "pipeline.__main__":
            assert not imported & commands, f"{module} imports the command(s) {sorted(imported & commands)}"


def test_python_m_pipeline_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "pipeline"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in COMMANDS:
        assert f"\n  {name} " in result.stdout


def test_python_m_pipeline_runs_a_command_and_refuses_unknown_ones():
    ok = subprocess.run([sys.executable, "-m", "pipeline", "validate", str(ROOT / "data" / "seed_sentences.jsonl")],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "pipeline", "trian"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown command 'trian'")


def test_help_command_tells_that_commands_options_and_refuses_unknown_ones():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)

    helped, own = run("help", "validate"), run("validate", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m pipeline.validate")
    assert helped.stdout == own.stdout
    bad = run("help", "trian")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: unknown command 'trian'") and bad.stderr.count("\n") == 1


def test_every_import_of_a_package_name_resolves():
    """Imports inside functions run late: a name that moved or was renamed fails only when reached."""
    import importlib

    missing = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == []


def test_private_library_modules_are_imported_in_one_module_each():
    allowed = {"sklearn.utils._param_validation": "pipeline.common.sklearn_rules",
               "hydra._internal": "pipeline.common.config"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [(private, module_name(path)) for name in names for private in allowed
                      if name == private or name.startswith(private + ".")]
    assert found and all(allowed[private] == module for private, module in found), found
