"""Robot configs: both shipped robots load with sane limits, and broken configs or URDFs fail
with errors that name the field and the fix."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget import load_robot
from dancemosaic_core.retarget.robot import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, joints, height", [("g1", 29, (0.7, 0.85)), ("talos", 30, (0.95, 1.1))])
def test_shipped_robots_load(name, joints, height):
    robot = load_robot(name)
    assert robot.num_joints == joints == len(set(robot.joint_names))
    assert np.all(np.isfinite(robot.lower)) and np.all(robot.lower < robot.upper)
    assert np.all(robot.velocity > 0) and np.all(robot.acceleration > 0)
    assert np.all((robot.lower <= robot.neutral_q) & (robot.neutral_q <= robot.upper))
    assert height[0] < robot.standing_height < height[1]
    model = robot.pinocchio_model
    assert model.nq == joints + 7 and model.nv == joints + 6       # free-flyer + controller joints
    assert robot.model(floating=False).nq == joints


def test_g1_joint_order_matches_the_gazebo_controller():
    cfg = yaml.safe_load((ROOT / "config/ros/g1_gazebo_controllers.yaml").read_text())
    assert tuple(cfg["joint_trajectory_controller"]["ros__parameters"]["joints"]) == load_robot("g1").joint_names


def _g1_copy(tmp_path, edit_config=None, edit_urdf=None) -> Path:
    cfg = yaml.safe_load((CONFIG_DIR / "g1.yaml").read_text())
    robot = load_robot("g1")
    urdf = robot.urdf.read_text()
    if edit_urdf:
        urdf = edit_urdf(urdf)
    (tmp_path / "g1.urdf").write_text(urdf)
    cfg["urdf"] = "g1.urdf"
    if edit_config:
        edit_config(cfg)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_config_naming_a_missing_frame(tmp_path):
    path = _g1_copy(tmp_path, edit_config=lambda c: c["keypoints"]["left_wrist"].update(frame="left_wrist_link"))
    with pytest.raises(DanceMosaicError, match=r"keypoints\.left_wrist\.frame = 'left_wrist_link'.*fix the frame"):
        load_robot(path)


def test_config_naming_a_missing_joint_or_keypoint(tmp_path):
    path = _g1_copy(tmp_path, edit_config=lambda c: c["joints"].append("tail_joint"))
    with pytest.raises(DanceMosaicError, match="tail_joint"):
        load_robot(path)
    path = _g1_copy(tmp_path, edit_config=lambda c: c["keypoints"].pop("right_wrist"))
    with pytest.raises(DanceMosaicError, match="missing right_wrist"):
        load_robot(path)


def test_urdf_without_limits_names_the_joint_and_the_fix(tmp_path):
    def strip(urdf):   # <limit> without lower/upper: urdfdom reads 0, 0
        return urdf.replace('lower="-2.5307" upper="2.8798" ', "", 1)

    path = _g1_copy(tmp_path, edit_urdf=strip)
    assert 'lower="-2.5307"' in load_robot("g1").urdf.read_text()
    with pytest.raises(DanceMosaicError, match=r"left_hip_pitch_joint has no usable position limits.*limits: position"):
        load_robot(path)
    fixed = _g1_copy(tmp_path, edit_urdf=strip, edit_config=lambda c: c["limits"].update(
        position={"left_hip_pitch_joint": [-2.5, 2.8]}))
    assert load_robot(fixed).lower[0] == -2.5


def test_urdf_without_velocity_limit(tmp_path):
    path = _g1_copy(tmp_path, edit_urdf=lambda u: u.replace('velocity="32"', 'velocity="0"', 1))
    with pytest.raises(DanceMosaicError, match=r"no velocity limit.*limits: velocity"):
        load_robot(path)


def test_unknown_robot_lists_the_known_ones():
    with pytest.raises(DanceMosaicError, match="known robots: g1, talos"):
        load_robot("asimo")
