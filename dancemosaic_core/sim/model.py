"""MuJoCo model of a robot config: its URDF plus a floor, a light, PD position actuators and,
for a free-standing robot, a free joint on the root link.

MuJoCo reads the URDF directly; `package://` mesh URIs are rewritten to files of the installed
`example-robot-data` wheel (or paths next to the URDF). Collision geoms touch the floor only (no
self-collision: retargeted dances often pass a hand through the torso by a few millimetres).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")   # headless rendering; osmesa also works

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from dancemosaic_core.common.errors import DanceMosaicError  # noqa: E402
from dancemosaic_core.retarget.robot import RobotConfig, robot_data_dir  # noqa: E402

COMPILER = ('<mujoco><compiler strippath="false" discardvisual="false" fusestatic="false" '
            'balanceinertia="true"/></mujoco>')
FLOOR_GROUP = 2     # visual group of the floor, so hiding group 0 (collision meshes) keeps it


@dataclass
class SimModel:
    model: mujoco.MjModel
    fixed_base: bool
    root_body: int
    joint_qpos: np.ndarray        # qpos address of each controller joint (controller order)
    joint_dof: np.ndarray
    actuators: np.ndarray         # actuator id of each controller joint
    foot_bodies: np.ndarray       # (2,) left, right
    floor_geom: int


def _urdf_text(robot: RobotConfig) -> str:
    text = robot.urdf.read_text()
    data = str(robot_data_dir()) + "/"
    text = text.replace("package://example-robot-data/robots/", data)

    def local(match):
        path = robot.urdf.parent / match.group(2)
        return str(path) if path.is_file() else match.group(0)
    text = re.sub(r"package://([^/]+)/([^\"']+)", local, text)
    if "package://" in text:
        missing = re.search(r"package://[^\"']+", text).group(0)
        raise DanceMosaicError(f"{robot.urdf}: mesh {missing} cannot be resolved offline; use mesh paths "
                               "relative to the URDF or an example-robot-data model")
    return re.sub(r"(<robot[^>]*>)", lambda m: m.group(1) + COMPILER, text, count=1)


def _gains(robot: RobotConfig, joint: str) -> tuple[float, float]:
    for rule in robot.sim.get("gains", []):
        if str(rule.get("match", "")) in joint:
            return float(rule["kp"]), float(rule["kd"])
    return 100.0, 2.0


def build_sim_model(robot: RobotConfig, *, fixed_base: bool, timestep: float = 0.002) -> SimModel:
    """Compile the MuJoCo model of `robot` (free joint unless `fixed_base`)."""
    try:
        spec = mujoco.MjSpec.from_string(_urdf_text(robot))
    except ValueError as exc:
        raise DanceMosaicError(f"MuJoCo cannot load {robot.urdf}: {exc}") from None
    spec.option.timestep = timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    root = spec.worldbody.first_body()
    root.pos = [0.0, 0.0, robot.standing_height]
    if not fixed_base:
        root.add_freejoint()
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 1, 0
    spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.82, 0.84, 0.86], rgb2=[0.68, 0.70, 0.73], width=256, height=256)
    spec.add_material(name="floor", textures=["", "grid"], texrepeat=[8, 8])
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05],
                            material="floor", contype=1, conaffinity=1, group=FLOOR_GROUP, friction=[1.0, 0.01, 0.001])
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                              diffuse=[0.7, 0.7, 0.7])
    armature = float(robot.sim.get("armature", 0.01))
    limits = dict(zip(robot.joint_names, zip(robot.lower, robot.upper, robot.effort)))
    for joint in spec.joints:
        if joint.type != mujoco.mjtJoint.mjJNT_HINGE:
            continue
        joint.armature = armature
        lower, upper, effort = limits.get(joint.name, (joint.range[0], joint.range[1], 100.0))
        kp, kd = _gains(robot, joint.name)
        act = spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp, kv=kd)
        # targets beyond a limit by up to effort / kp: a torque feed-forward sent as a target shift
        # (sim/playback.py) is not cut; the targets themselves stay within the limits upstream
        reach = effort / kp if np.isfinite(effort) and effort > 0 else 0.0
        act.ctrlrange = [lower - reach, upper + reach]
        act.ctrllimited = True
        if np.isfinite(effort) and effort > 0:
            act.forcerange = [-effort, effort]
            act.forcelimited = True
    model = spec.compile()
    missing = [n for n in robot.joint_names if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) < 0]
    if missing:
        raise DanceMosaicError(f"MuJoCo model of {robot.urdf.name} lacks joints {', '.join(missing)}")
    jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in robot.joint_names]
    feet = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, robot.feet[s].frame) for s in ("left", "right")]
    if min(feet) < 0:
        raise DanceMosaicError(f"{robot.config_path}: feet.*.frame must be URDF links for the simulator "
                               f"(got {robot.feet['left'].frame}, {robot.feet['right'].frame})")
    return SimModel(
        model=model, fixed_base=fixed_base, root_body=model.body(root.name).id,
        joint_qpos=np.array([model.jnt_qposadr[j] for j in jids]),
        joint_dof=np.array([model.jnt_dofadr[j] for j in jids]),
        actuators=np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in robot.joint_names]),
        foot_bodies=np.array(feet), floor_geom=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor"))
