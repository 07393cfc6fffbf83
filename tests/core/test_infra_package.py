"""The package descriptions agree with each other: package.xml, CMakeLists.txt, msg/, setup.py,
requirements.txt. A mismatch here breaks the colcon build or the venv install, not a unit test."""
import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CMAKE = (ROOT / "CMakeLists.txt").read_text()
BUILTIN_TYPES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
                 "int32", "uint32", "int64", "uint64", "string", "wstring"}


def cmake_list(name: str) -> list[str]:
    match = re.search(rf"set\({name}\s+([^)]*)\)", CMAKE)
    assert match, f"CMakeLists.txt sets no {name}"
    return match.group(1).split()


def package_xml() -> ET.Element:
    return ET.parse(ROOT / "package.xml").getroot()


def setup_distribution():
    from distutils.core import (
        run_setup,  # setuptools' shim; runs setup.py without building
    )

    return run_setup(str(ROOT / "setup.py"), stop_after="init")


def test_package_xml_is_format_3_interface_package_named_like_the_cmake_project():
    root = package_xml()
    assert root.get("format") == "3"
    project = re.search(r"^project\((\w+)", CMAKE, re.M).group(1)
    assert root.findtext("name") == project == "dancemosaic"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert root.findtext("export/build_type") == "ament_cmake"
    for tool in ("ament_cmake", "ament_cmake_python", "rosidl_default_generators"):
        assert tool in [e.text for e in root.findall("buildtool_depend")], tool
    assert "rosidl_default_runtime" in [e.text for e in root.findall("exec_depend")]


def test_cmake_lists_every_msg_file_and_declares_their_dependencies():
    listed = cmake_list("DANCEMOSAIC_MSGS")
    on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "msg").glob("*.msg"))
    assert sorted(listed) == on_disk
    deps = re.search(r"DEPENDENCIES\s+([^)]*)\)", CMAKE).group(1).split()
    xml_deps = {e.text for tag in ("depend", "build_depend") for e in package_xml().findall(tag)}
    used = set()
    for path in on_disk:
        for line in (ROOT / path).read_text().splitlines():
            field = line.split("#")[0].split()
            if not field:
                continue
            base = field[0].split("[")[0]
            assert "/" in base or base in BUILTIN_TYPES or (ROOT / "msg" / f"{base}.msg").exists(), line
            if "/" in base:
                used.add(base.split("/")[0])
    assert used <= set(deps), f"{path}: types from {used - set(deps)} missing in DEPENDENCIES"
    assert set(deps) <= xml_deps, f"package.xml lacks {set(deps) - xml_deps}"


def test_setup_py_distribution_and_packages_do_not_shadow_the_generated_messages():
    dist = setup_distribution()
    assert dist.get_name() != "dancemosaic"  # pip would uninstall the generated `dancemosaic` package
    packages = set(dist.packages)
    assert {"dancemosaic_core", "dancemosaic_ros"} <= packages
    assert not any(p == "dancemosaic" or p.startswith("dancemosaic.") for p in packages)


def test_console_scripts_match_the_cmake_node_executables():
    scripts = dict(line.replace(" ", "").split("=") for line in setup_distribution().entry_points["console_scripts"])
    assert scripts.pop("dancemosaic") == "dancemosaic_core.cli:main"
    nodes = cmake_list("DANCEMOSAIC_NODES")
    assert scripts == {f"dancemosaic_{node}": f"dancemosaic_ros.{node}:main" for node in nodes}
    template = (ROOT / "scripts/ros/node_executable.py.in").read_text()
    assert "from dancemosaic_ros.@DANCEMOSAIC_NODE_MODULE@ import main" in template
    for node in nodes:
        tree = ast.parse((ROOT / "dancemosaic_ros" / f"{node}.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), node


def test_cmake_installs_directories_that_exist():
    for directory in re.search(r"install\(DIRECTORY\s+([^)]*?)\s+DESTINATION", CMAKE).group(1).split():
        assert (ROOT / directory).is_dir(), directory


def test_requirements_pin_every_package_exactly_once():
    names = {}
    for number, line in enumerate((ROOT / "requirements.txt").read_text().splitlines(), 1):
        line = line.removeprefix("#bundled ").strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s;]*)", line)
        assert match, f"requirements.txt:{number}: {line!r} is not an exact pin NAME==VERSION"
        key = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        assert key not in names, f"requirements.txt:{number}: {key} pinned again (line {names.get(key)})"
        names[key] = number
    assert "torch" in names and "ros-rclpy" in names and "rclpy" in names


@pytest.mark.parametrize("script", ["scripts/install.sh", ".ci/run"])
def test_shell_scripts_stop_on_errors(script):
    text = (ROOT / script).read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
