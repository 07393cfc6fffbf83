"""The Unitree G1 (29 DoF) in Gazebo through gz_ros2_control, driven by the dance pipeline.

    ros2 launch dancemosaic sim_gazebo.launch.py                      # fixed pelvis (default)
    ros2 launch dancemosaic sim_gazebo.launch.py fixed_pelvis:=false  # free-floating: it falls

The G1 URDF of example-robot-data carries no <ros2_control> block. This file writes one (position
command, position and velocity state for every actuated joint) with the gz_ros2_control plugin
into a copy of the URDF (argument urdf_out) and spawns that. A floating-base humanoid under joint
position control falls in Gazebo, so fixed_pelvis (default) also welds the pelvis to the world at
pelvis_height: a display mode for the dance, not a balance test.
The launch packages are imported inside the functions that need them, so the URDF helpers load
without ROS (tests/core/test_infra_launch.py runs them on the real G1 URDF).
"""
import os
import re
import tempfile
import xml.etree.ElementTree as ET

PACKAGE = "dancemosaic"
CONTROLLERS_FILE = "g1_gazebo_controllers.yaml"  # in config/ros/
ROBOT_DATA_PACKAGE = "example-robot-data"
G1_URDF = "robots/g1_description/urdf/g1_29dof_rev_1_0.urdf"  # in example-robot-data's share
ROOT_LINK = "pelvis"
CONTROLLERS = ("joint_state_broadcaster", "joint_trajectory_controller")

ARGUMENTS = {
    "fixed_pelvis": ("true", "weld the pelvis to the world (a floating G1 under position control falls)"),
    "pelvis_height": ("0.80", "pelvis height above the ground in metres"),
    "urdf": ("", "robot URDF ('' = example-robot-data's 29-DoF G1)"),
    "urdf_out": (os.path.join(tempfile.gettempdir(), "dancemosaic_g1_gazebo.urdf"),
                 "where the URDF with the <ros2_control> block is written"),
    "world": ("empty.sdf", "Gazebo world"),
    "gui": ("true", "show the Gazebo window"),
    "dance": ("true", "also start the dance pipeline (dance.launch.py) on sim time"),
    "audio_source": ("default", "passed to dance.launch.py"),
}


def actuated_joints(robot: ET.Element) -> list[str]:
    """Names of the URDF's moving joints, in file order (the controller's joint order)."""
    return [j.get("name") for j in robot.findall("joint") if j.get("type") not in ("fixed", "floating")]


def add_ros2_control(urdf_text: str, *, controllers_yaml: str, fixed_pelvis: bool,
                     pelvis_height: float, package_share=None) -> str:
    """The URDF with a gz_ros2_control <ros2_control> block, the plugin, optionally the pelvis
    welded to the world, and package:// mesh URIs made absolute (package_share(name) -> dir)."""
    robot = ET.fromstring(urdf_text)
    if robot.find("ros2_control") is not None:
        raise ValueError("the URDF already has a <ros2_control> block; pass one without it")
    joints = actuated_joints(robot)
    limits = {j.get("name"): j.find("limit") for j in robot.findall("joint")}
    control = ET.SubElement(robot, "ros2_control", name="GazeboSimSystem", type="system")
    ET.SubElement(ET.SubElement(control, "hardware"), "plugin").text = "gz_ros2_control/GazeboSimSystem"
    for name in joints:
        joint = ET.SubElement(control, "joint", name=name)
        command = ET.SubElement(joint, "command_interface", name="position")
        limit = limits[name]
        if limit is not None and limit.get("lower") is not None:
            ET.SubElement(command, "param", name="min").text = limit.get("lower")
            ET.SubElement(command, "param", name="max").text = limit.get("upper")
        ET.SubElement(joint, "state_interface", name="position")
        ET.SubElement(joint, "state_interface", name="velocity")
    plugin = ET.SubElement(ET.SubElement(robot, "gazebo"), "plugin",
                           filename="gz_ros2_control-system",
                           name="gz_ros2_control::GazeboSimROS2ControlPlugin")
    ET.SubElement(plugin, "parameters").text = controllers_yaml
    if fixed_pelvis:
        ET.SubElement(robot, "link", name="world")
        weld = ET.SubElement(robot, "joint", name="world_to_pelvis", type="fixed")
        ET.SubElement(weld, "parent", link="world")
        ET.SubElement(weld, "child", link=ROOT_LINK)
        ET.SubElement(weld, "origin", xyz=f"0 0 {pelvis_height}", rpy="0 0 0")
    text = ET.tostring(robot, encoding="unicode")
    if package_share is not None:
        text = re.sub(r"package://([^/\"]+)/", lambda m: "file://" + package_share(m.group(1)) + "/", text)
    return text


def _launch_setup(context):
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def arg(name):
        return LaunchConfiguration(name).perform(context)

    share = get_package_share_directory(PACKAGE)
    controllers_yaml = os.path.join(share, "config", "ros", CONTROLLERS_FILE)
    urdf_in = arg("urdf") or os.path.join(get_package_share_directory(ROBOT_DATA_PACKAGE), G1_URDF)
    fixed = arg("fixed_pelvis").lower() == "true"
    height = float(arg("pelvis_height"))
    with open(urdf_in) as f:
        urdf = add_ros2_control(f.read(), controllers_yaml=controllers_yaml, fixed_pelvis=fixed,
                                pelvis_height=height, package_share=get_package_share_directory)
    urdf_out = arg("urdf_out")
    with open(urdf_out, "w") as f:
        f.write(urdf)

    gz_args = f"-r {arg('world')}" + ("" if arg("gui").lower() == "true" else " -s")
    actions = [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                os.path.join(get_package_share_directory("ros_gz_sim"), "launch", "gz_sim.launch.py")),
            launch_arguments={"gz_args": gz_args}.items()),
        Node(package="ros_gz_bridge", executable="parameter_bridge", output="screen",
             arguments=["/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock"]),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": urdf, "use_sim_time": True}]),
        Node(package="ros_gz_sim", executable="create", output="screen",
             arguments=["-file", urdf_out, "-name", "g1", "-z", "0.0" if fixed else str(height)]),
    ]
    actions += [Node(package="controller_manager", executable="spawner", output="screen",
                     arguments=[name, "--param-file", controllers_yaml]) for name in CONTROLLERS]
    if arg("dance").lower() == "true":
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "dance.launch.py")),
            launch_arguments={"robot": "g1", "audio_source": arg("audio_source"),
                              "use_sim_time": "true"}.items()))
    return actions


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in ARGUMENTS.items()]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
