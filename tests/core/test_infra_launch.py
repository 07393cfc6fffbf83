"""The launch files, run against recording stand-ins of the ROS launch API (no `launch` package
exists here): every executable they start is one this package installs or one package.xml names,
every file they read exists, and the Gazebo URDF they generate controls exactly the G1's joints."""
import ast
import importlib.util
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = ("dance.launch.py", "sim_gazebo.launch.py")


def _robot_data_share() -> Path:
    """example-robot-data's ROS share directory, as the wheel installs it."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        files = distribution("example-robot-data").files
    except PackageNotFoundError:
        pytest.skip("example-robot-data is not installed")
    suffix = "share/example-robot-data/package.xml"
    path = next(distribution("example-robot-data").locate_file(f) for f in files if str(f).endswith(suffix))
    return Path(path).parent


class Recorder:
    """Stand-ins for the launch API: each class records the keyword arguments it was built with."""

    def __init__(self, context: dict, shares: dict):
        self.context, self.shares, self.made = context, shares, []
        recorder = self

        def record(kind):
            def init(self, *args, **kwargs):
                self.args, self.kwargs = args, kwargs
                recorder.made.append((kind, self))
            return type(kind, (), {"__init__": init})

        class LaunchConfiguration:
            def __init__(self, name):
                self.name = name

            def perform(self, context):
                return context[self.name]

        self.modules = {
            "launch": types.ModuleType("launch"),
            "launch.actions": types.ModuleType("launch.actions"),
            "launch.substitutions": types.ModuleType("launch.substitutions"),
            "launch.launch_description_sources": types.ModuleType("launch.launch_description_sources"),
            "launch_ros": types.ModuleType("launch_ros"),
            "launch_ros.actions": types.ModuleType("launch_ros.actions"),
            "ament_index_python": types.ModuleType("ament_index_python"),
            "ament_index_python.packages": types.ModuleType("ament_index_python.packages"),
        }
        m = self.modules
        m["launch"].LaunchDescription = record("LaunchDescription")
        for name in ("DeclareLaunchArgument", "OpaqueFunction", "IncludeLaunchDescription"):
            setattr(m["launch.actions"], name, record(name))
        m["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
        m["launch.launch_description_sources"].PythonLaunchDescriptionSource = record("Source")
        m["launch_ros.actions"].Node = record("Node")
        m["ament_index_python.packages"].get_package_share_directory = lambda pkg: str(self.shares[pkg])

    def of(self, kind):
        return [obj for k, obj in self.made if k == kind]


def load_launch(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), ROOT / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cmake_nodes() -> list[str]:
    return re.search(r"set\(DANCEMOSAIC_NODES\s+([^)]*)\)", (ROOT / "CMakeLists.txt").read_text()).group(1).split()


def exec_depends() -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text for tag in ("exec_depend", "depend") for e in root.findall(tag)}


@pytest.fixture
def run_launch(monkeypatch, tmp_path):
    def run(name: str, context: dict) -> Recorder:
        # In an install, share/dancemosaic holds launch/ and config/ exactly as the repository does.
        shares = {"dancemosaic": ROOT, "example-robot-data": _robot_data_share(), "ros_gz_sim": tmp_path}
        recorder = Recorder(context, shares)
        for mod_name, module in recorder.modules.items():
            monkeypatch.setitem(sys.modules, mod_name, module)
        module = load_launch(name)
        description = module.generate_launch_description()
        for action in description.args[0]:
            if type(action).__name__ == "OpaqueFunction":
                action.kwargs["function"](context)
        return recorder
    return run


def check_started_nodes(recorder: Recorder):
    for node in recorder.of("Node"):
        package, executable = node.kwargs["package"], node.kwargs["executable"]
        if package == "dancemosaic":
            assert executable in cmake_nodes(), f"{executable} is not installed by CMakeLists.txt"
        else:
            assert package in exec_depends(), f"package.xml lacks <exec_depend>{package}"
        for params in node.kwargs.get("parameters", []):
            if isinstance(params, str):
                assert Path(params).is_file(), params
    for include in recorder.of("IncludeLaunchDescription"):
        path = Path(include.args[0].args[0])
        if path.is_relative_to(ROOT):
            assert path.is_file(), path


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_file_imports_only_the_standard_library_at_top_level(name):
    tree = ast.parse((ROOT / "launch" / name).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {alias.name.split(".")[0] for n in top if isinstance(n, ast.Import) for alias in n.names}
    modules |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom)}
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


@pytest.mark.parametrize("stabilizer", ["false", "true"])
@pytest.mark.parametrize("single_process", ["false", "true"])
def test_dance_launch_starts_installed_nodes_with_declared_parameters(run_launch, single_process, stabilizer):
    context = {"robot": "g1", "audio_source": "song.wav", "model": "runs/m", "device": "cpu",
               "params_file": "", "single_process": single_process, "use_sim_time": "false",
               "stabilizer": stabilizer}
    recorder = run_launch("dance.launch.py", context)
    declared = {a.args[0]: a.kwargs["description"] for a in recorder.of("DeclareLaunchArgument")}
    assert {"robot", "audio_source", "model", "device"} <= set(declared)
    assert all(declared.values())
    check_started_nodes(recorder)
    nodes = recorder.of("Node")
    assert [n.kwargs["executable"] for n in nodes] == (
        ["bringup"] if single_process == "true" else ["audio_node", "generator_node", "retarget_node"]) + (
        ["stabilizer_node"] if stabilizer == "true" else [])
    params_file, override_file = nodes[0].kwargs["parameters"]
    config = yaml.safe_load(Path(params_file).read_text())
    overrides = yaml.safe_load(Path(override_file).read_text())
    module = load_launch("dance.launch.py")
    assert set(config) == set(module.NODES)
    if stabilizer == "true":
        config.update(yaml.safe_load(Path(nodes[-1].kwargs["parameters"][0]).read_text()))
        assert nodes[-1].kwargs["parameters"][1] == override_file
    assert overrides["retarget_node"]["ros__parameters"]["stabilized"] is (stabilizer == "true")
    for node, section in overrides.items():
        unknown = set(section["ros__parameters"]) - set(config[node]["ros__parameters"]) - {"use_sim_time"}
        assert not unknown, f"launch overrides undeclared {node} parameters {unknown}"
    assert overrides["audio_node"]["ros__parameters"]["file"] == "song.wav"
    assert overrides["generator_node"]["ros__parameters"] == {
        "device": "cpu", "robot": "g1", "model_dir": "runs/m", "use_sim_time": False}


def test_dance_launch_audio_source_picks_capture_device_or_file():
    module = load_launch("dance.launch.py")

    def audio(source):
        return module.node_overrides(robot="g1", audio_source=source, model="", device="auto")["audio_node"]
    assert audio("default") == {"file": "", "device": ""}
    assert audio("pulse") == {"file": "", "device": "pulse"}
    assert audio("Music/Track.FLAC") == {"file": "Music/Track.FLAC"}


@pytest.mark.parametrize("fixed_pelvis", [True, False])
def test_sim_gazebo_writes_a_g1_urdf_that_gz_ros2_control_can_drive(run_launch, tmp_path, fixed_pelvis):
    urdf_out = tmp_path / "g1.urdf"
    context = {"fixed_pelvis": str(fixed_pelvis).lower(), "pelvis_height": "0.8", "urdf": "",
               "urdf_out": str(urdf_out), "world": "empty.sdf", "gui": "false", "dance": "true",
               "audio_source": "default"}
    recorder = run_launch("sim_gazebo.launch.py", context)
    check_started_nodes(recorder)
    robot = ET.parse(urdf_out).getroot()
    module = load_launch("sim_gazebo.launch.py")
    joints = module.actuated_joints(robot)
    assert len(joints) == 29
    control = robot.find("ros2_control")
    assert control.findtext("hardware/plugin") == "gz_ros2_control/GazeboSimSystem"
    assert [j.get("name") for j in control.findall("joint")] == joints
    for joint in control.findall("joint"):
        assert [c.get("name") for c in joint.findall("command_interface")] == ["position"]
        assert {s.get("name") for s in joint.findall("state_interface")} == {"position", "velocity"}
        lower, upper = (float(p.text) for p in joint.findall("command_interface/param"))
        assert lower < upper
    controllers_yaml = Path(robot.findtext("gazebo/plugin/parameters"))
    config = yaml.safe_load(controllers_yaml.read_text())
    assert config["joint_trajectory_controller"]["ros__parameters"]["joints"] == joints
    spawned = [n.kwargs["arguments"][0] for n in recorder.of("Node") if n.kwargs["executable"] == "spawner"]
    assert set(spawned) <= set(config["controller_manager"]["ros__parameters"])
    welds = [j for j in robot.findall("joint") if j.get("name") == "world_to_pelvis"]
    assert len(welds) == int(fixed_pelvis)
    meshes = [m.get("filename") for m in robot.iter("mesh")]
    assert meshes and all(m.startswith("file://") and Path(m[len("file://"):]).is_file() for m in meshes)


def test_sim_gazebo_refuses_a_urdf_that_already_has_ros2_control():
    module = load_launch("sim_gazebo.launch.py")
    with pytest.raises(ValueError, match="ros2_control"):
        module.add_ros2_control('<robot name="r"><ros2_control name="x" type="system"/></robot>',
                                controllers_yaml="c.yaml", fixed_pelvis=False, pelvis_height=0.8)
