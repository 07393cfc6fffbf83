"""dancemosaic_core runs without ROS: no module of it imports rclpy or ROS messages, at import
time (checked by importing every module in a clean interpreter) or later (checked in the source),
and no file of it names the ROS side. Its top level holds only packages."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "dancemosaic_core"
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "dancemosaic_ros", "dancemosaic", "launch", "launch_ros",
               "std_msgs", "sensor_msgs", "trajectory_msgs", "geometry_msgs", "builtin_interfaces")

IMPORT_ALL = """
import importlib, json, pkgutil, sys, traceback
import dancemosaic_core
failed = {}
names = ["dancemosaic_core"] + [m.name for m in pkgutil.walk_packages(dancemosaic_core.__path__, "dancemosaic_core.")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
roots = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"names": names, "failed": failed, "roots": roots}))
"""


def test_importing_every_core_module_loads_no_ros():
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "dancemosaic_core.cli" in report["names"]
    assert not report["failed"], "\n".join(f"{k}:\n{v}" for k, v in report["failed"].items())
    loaded_ros = sorted(set(report["roots"]) & set(ROS_MODULES))
    assert not loaded_ros, f"importing dancemosaic_core loaded {loaded_ros}"


def test_no_core_source_imports_ros_even_lazily():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in ROS_MODULES]
    assert not offenders, offenders


def test_core_top_level_holds_only_packages():
    modules = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert not modules, f"move {modules} into a package of dancemosaic_core"
    for directory in CORE.iterdir():
        if directory.is_dir() and any(directory.glob("*.py")):
            assert (directory / "__init__.py").is_file(), f"{directory.relative_to(ROOT)} lacks __init__.py"


def test_no_core_file_names_the_ros_side():
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in sorted(CORE.rglob("*"))
                 if path.is_file() and path.suffix in (".py", ".md", ".yaml", ".json", ".txt")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if "dancemosaic_ros" in line or "rclpy" in line]
    assert not offenders, offenders
