"""The dance pipeline on a ROS 2 install: audio -> generator -> retarget -> JointTrajectory.

    ros2 launch dancemosaic dance.launch.py robot:=g1 audio_source:=default device:=auto
    ros2 launch dancemosaic dance.launch.py audio_source:=/path/song.wav single_process:=true

Every node reads config/ros/dance.yaml (or params_file); the launch arguments override the
parameters they name. single_process runs the three nodes in the `bringup` executable (one
process, multi-threaded executor: lowest latency) instead of one process each.
stabilizer:=true adds the balance stabilizer (this package's config/ros/stabilizer.yaml; docs/ros.md, "Balance
stabilizer on a real G1") in a process of its own: the retarget node sends it the plan and it
sends the controller the corrected one. Off by default: it needs the robot's joint states and
pelvis IMU, and has not yet run on a real G1.
The launch packages are imported inside generate_launch_description(), so the pure helpers below
load without ROS (tests/core/test_infra_launch.py calls them).
"""
import os
import tempfile

PACKAGE = "dancemosaic"
NODES = ("audio_node", "generator_node", "retarget_node")
SINGLE_PROCESS_EXECUTABLE = "bringup"
PARAMS_FILE = "dance.yaml"  # in config/ros/
STABILIZER_NODE, STABILIZER_PARAMS_FILE = "stabilizer_node", "stabilizer.yaml"
AUDIO_FILE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

ARGUMENTS = {
    "robot": ("g1", "robot model, config/robots/<robot>.yaml (e.g. g1)"),
    "audio_source": ("default", "'default' (system input), a sounddevice input name or index, "
                                "or an audio file (.wav .flac .ogg .mp3) played in real time"),
    "model": ("", "model checkpoint directory ('' = the default trained model)"),
    "device": ("auto", "inference device: auto (a GPU when present), cpu or cuda"),
    "params_file": ("", "parameters file ('' = this package's config/ros/dance.yaml)"),
    "single_process": ("false", "run all nodes in one process (the bringup executable)"),
    "use_sim_time": ("false", "use /clock (true in simulation)"),
    "stabilizer": ("false", "balance feedback from /joint_states and /imu between the retarget node and the "
                            "controller (stabilizer_node; a free-standing robot)"),
}


def node_overrides(*, robot: str, audio_source: str, model: str, device: str, stabilizer: bool = False) -> dict:
    """Parameters the launch arguments set, per node name, on top of the parameters file."""
    if audio_source.lower().endswith(AUDIO_FILE_SUFFIXES):
        audio = {"file": audio_source}
    else:
        audio = {"file": "", "device": "" if audio_source == "default" else audio_source}
    # the generator's ITTO keeps the dance inside this robot's joint limits (joint-limit proxy)
    generator = {"device": device, "robot": robot}
    if model:
        generator["model_dir"] = model
    overrides = {"audio_node": audio, "generator_node": generator,
                 "retarget_node": {"robot": robot, "stabilized": stabilizer}}
    if stabilizer:
        overrides[STABILIZER_NODE] = {"robot": robot}
    return overrides


def write_overrides(overrides: dict, use_sim_time: bool, path: str) -> str:
    """A ROS parameters file `<node>: ros__parameters: {...}` holding the overrides."""
    import yaml

    document = {node: {"ros__parameters": {**params, "use_sim_time": use_sim_time}}
                for node, params in overrides.items()}
    with open(path, "w") as f:
        yaml.safe_dump(document, f)
    return path


def _launch_setup(context):
    from ament_index_python.packages import get_package_share_directory
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def arg(name):
        return LaunchConfiguration(name).perform(context)

    params_file = arg("params_file") or os.path.join(
        get_package_share_directory(PACKAGE), "config", "ros", PARAMS_FILE)
    stabilizer = arg("stabilizer").lower() == "true"
    overrides = node_overrides(robot=arg("robot"), audio_source=arg("audio_source"),
                               model=arg("model"), device=arg("device"), stabilizer=stabilizer)
    override_file = write_overrides(
        overrides, arg("use_sim_time").lower() == "true",
        os.path.join(tempfile.mkdtemp(prefix="dancemosaic_launch_"), "overrides.yaml"))
    parameters = [params_file, override_file]
    if arg("single_process").lower() == "true":
        nodes = [Node(package=PACKAGE, executable=SINGLE_PROCESS_EXECUTABLE, output="screen",
                      parameters=parameters)]
    else:
        nodes = [Node(package=PACKAGE, executable=node, name=node, output="screen", parameters=parameters)
                 for node in NODES]
    if stabilizer:
        # its control loop runs in a process of its own, clear of the generator's GIL
        stabilizer_params = os.path.join(get_package_share_directory(PACKAGE), "config", "ros", STABILIZER_PARAMS_FILE)
        nodes.append(Node(package=PACKAGE, executable=STABILIZER_NODE, name=STABILIZER_NODE, output="screen",
                          parameters=[stabilizer_params, override_file]))
    return nodes


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in ARGUMENTS.items()]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
