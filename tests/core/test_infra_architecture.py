"""The import rule of docs/architecture.md, "What may import what": the packages of
dancemosaic_core are layered, and a module imports only packages of lower layers (its own
package aside), whether at the top of the file or inside a function. dancemosaic_ros uses the
library, not the core's command line. No import cycle between packages or between modules.
(That the core never imports rclpy or dancemosaic_ros is test_infra_no_rclpy.py.)"""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "dancemosaic_core"
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"

# The rule, in one place; docs/architecture.md states the same table (checked below).
LAYERS = (
    ("common",),
    ("motion", "text", "control"),
    ("audio", "models", "render"),
    ("data", "inference", "retarget"),
    ("choreo", "sim", "train"),
    ("eval",),
    ("cli",),
)
LAYER_OF = {package: layer for layer, packages in enumerate(LAYERS) for package in packages}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def imported_modules(path: Path, known: dict[str, Path], root: Path = ROOT) -> list[tuple[str, int]]:
    """(module, line) of every dancemosaic_core import in a file, relative ones resolved; `from
    X import Y` names module X.Y when Y is a module of the core, else X."""
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            out += [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base, node.lineno)
                    for alias in node.names]
    return [(name, line) for name, line in out if name.split(".")[0] == "dancemosaic_core"]


def package_of(module: str) -> str | None:
    """The core package a module belongs to (None for the top-level dancemosaic_core itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == "open":
                return stack[stack.index(succ):] + [succ]
            if succ not in state and (cycle := visit(succ)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def documented_layers() -> tuple[tuple[str, ...], ...]:
    text = ARCHITECTURE_DOC.read_text()
    section = text.split("## What may import what", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|([^|]*)\|", section, re.M)
    assert [int(number) for number, _ in rows] == list(range(len(rows))), "layers numbered 0, 1, ... in order"
    return tuple(tuple(re.findall(r"`(\w+)`", cell)) for _, cell in rows)


def test_every_core_package_has_exactly_one_layer():
    on_disk = {p.parent.name for p in CORE.glob("*/__init__.py")}
    listed = [package for packages in LAYERS for package in packages]
    assert len(listed) == len(set(listed)), "a package is in two layers"
    assert set(listed) == on_disk, (f"give {sorted(on_disk - set(listed))} a layer (here and in "
                                    f"docs/architecture.md); remove {sorted(set(listed) - on_disk)}")


def test_the_doc_states_the_layers_this_test_enforces():
    assert documented_layers() == LAYERS, "docs/architecture.md and LAYERS disagree: change both"


def test_every_path_the_doc_names_exists():
    named = set(re.findall(r"`((?:dancemosaic_core|dancemosaic_ros|msg|config|tests)/[\w/.]*)`",
                           ARCHITECTURE_DOC.read_text()))
    assert named, "docs/architecture.md names no module"
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_core_modules_import_only_lower_layers():
    known = core_modules()
    offenders = []
    for module, path in known.items():
        source = package_of(module)
        for name, line in imported_modules(path, known):
            target = package_of(name)
            if source is None:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}; the top-level "
                                 "__init__ stays free of the packages")
            elif target is None:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports the top-level dancemosaic_core; "
                                 "import the package it means")
            elif target != source and LAYER_OF[target] >= LAYER_OF[source]:
                offenders.append(f"{path.relative_to(ROOT)}:{line} {source} (layer {LAYER_OF[source]}) imports "
                                 f"{name} (layer {LAYER_OF[target]})")
    assert not offenders, "\n".join(offenders)


def test_ros_side_uses_the_library_not_the_core_command_line():
    known = core_modules()
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for path in sorted((ROOT / "dancemosaic_ros").rglob("*.py"))
                 for name, line in imported_modules(path, known) if package_of(name) == "cli"]
    assert not offenders, ("dancemosaic_ros adds commands through setup.py entry points, never by "
                           "importing dancemosaic_core.cli:\n" + "\n".join(offenders))


def test_no_import_cycle_between_packages_or_modules():
    known = core_modules()
    modules = {module: {name for name, _ in imported_modules(path, known) if name in known} - {module}
               for module, path in known.items()}
    packages: dict[str, set[str]] = {}
    for module, targets in modules.items():
        if (source := package_of(module)) is not None:
            packages.setdefault(source, set()).update(package_of(t) for t in targets
                                                      if package_of(t) not in (source, None))
    assert find_cycle(packages) is None, f"package import cycle: {' -> '.join(find_cycle(packages))}"
    assert find_cycle(modules) is None, f"module import cycle: {' -> '.join(find_cycle(modules))}"


def test_the_checks_see_violations_and_cycles(tmp_path):
    """The resolver and the cycle finder on a known case, so a green run means something."""
    pkg = tmp_path / "dancemosaic_core" / "motion"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    bad = pkg / "bad.py"
    bad.write_text("from ..models import tokenizer\n\ndef f():\n    from dancemosaic_core.cli import main\n")
    found = imported_modules(bad, {"dancemosaic_core.motion": pkg / "__init__.py"}, root=tmp_path)
    assert found == [("dancemosaic_core.models", 1), ("dancemosaic_core.cli", 4)]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
