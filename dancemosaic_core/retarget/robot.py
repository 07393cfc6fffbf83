"""Robot configs (`config/robots/<name>.yaml`) and the Pinocchio models built from them.

A config names the URDF, the controller's joint order, the neutral (standing) pose, limit
overrides, and the human-joint -> robot-frame map the retargeter and the joint-limit proxy use.
Everything is checked on load: a missing frame, joint or limit raises DanceMosaicError naming the
config field and the fix. See docs/robot.md for every field.
"""
from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pinocchio as pin
import yaml

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import JOINT_INDEX, JOINT_NAMES

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "robots"
ROBOT_DATA_PREFIX = "example-robot-data:"
BODIES = ("pelvis", "torso", "left_foot", "right_foot")      # human bodies with an orientation
RULES = ("root", "limb", "rigid")
# Keypoints the retargeter and the proxy cannot work without.
REQUIRED_KEYPOINTS = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                      "right_ankle", "left_foot", "right_foot", "spine3", "left_shoulder",
                      "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
KEYPOINT_FRAME = "dm_{}"          # name of the Pinocchio frame added for each keypoint


@dataclass(frozen=True)
class Keypoint:
    name: str                     # human joint (skeleton.JOINT_NAMES)
    frame: str                    # robot frame the point is attached to
    offset: np.ndarray            # (3,) in that frame, metres
    parent: str | None            # keypoint its target is built from (None: the root)
    rule: str                     # root | limb | rigid
    body: str | None              # rigid: the human body whose rotation moves the offset
    weight: float                 # IK weight; 0 = anchor only


@dataclass(frozen=True)
class OrientationTask:
    name: str
    frame: str
    body: str                     # human body whose rotation the frame follows
    weight: float


@dataclass(frozen=True)
class Foot:
    side: str                     # left | right
    ankle: str                    # ankle keypoint
    toe: str                      # toe keypoint
    frame: str                    # the foot's frame (after the last ankle joint)
    sole: np.ndarray              # (k, 3) contact points in that frame


@dataclass
class RobotConfig:
    name: str
    config_path: Path
    urdf: Path
    floating_base: bool
    base_frame: str
    joint_names: tuple[str, ...]              # controller order
    lower: np.ndarray                          # (n,) rad, controller order
    upper: np.ndarray
    velocity: np.ndarray                       # (n,) rad/s
    acceleration: np.ndarray                   # (n,) rad/s^2
    effort: np.ndarray                         # (n,) N m
    neutral_q: np.ndarray                      # (n,) standing pose
    keypoints: dict[str, Keypoint]             # parent-first order
    orientations: dict[str, OrientationTask]
    feet: dict[str, Foot]
    proxy: dict
    sim: dict
    standing_height: float                     # base z that puts the lowest sole point at z = 0
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def pinocchio_model(self) -> pin.Model:
        """The model of the robot's own mode (free-flyer when it is free-standing)."""
        return self.model(floating=self.floating_base)

    def model(self, *, floating: bool) -> pin.Model:
        """Reduced Pinocchio model: the controller's joints (others locked at neutral), with a
        free-flyer root when `floating`, and one `dm_<joint>` frame per keypoint."""
        if floating not in self._models:
            self._models[floating] = _build_model(self, floating)
        return self._models[floating]

    def joint_q_index(self, model: pin.Model) -> np.ndarray:
        """Index into q of each controller joint (controller order)."""
        return np.array([model.joints[model.getJointId(n)].idx_q for n in self.joint_names])

    def joint_v_index(self, model: pin.Model) -> np.ndarray:
        return np.array([model.joints[model.getJointId(n)].idx_v for n in self.joint_names])

    def configuration(self, model: pin.Model, q: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """Full Pinocchio configuration from controller-order joints and a base pose
        (x y z qx qy qz qw); a floating model without `base` stands at the standing height."""
        full = pin.neutral(model)
        full[self.joint_q_index(model)] = q
        if model.joints[1].nq == 7:
            full[:7] = base if base is not None else [0, 0, self.standing_height, 0, 0, 0, 1]
        return full


def robot_data_dir() -> Path:
    """`share/example-robot-data/robots` of the installed `example-robot-data` wheel (cmeel
    prefix next to Pinocchio)."""
    prefix = Path(pin.__file__).resolve().parents[4]
    candidate = prefix / "share" / "example-robot-data" / "robots"
    if not candidate.is_dir():
        raise DanceMosaicError(f"example-robot-data models not found at {candidate}; install the "
                               "`example-robot-data` wheel (requirements.txt) or give the URDF's path")
    return candidate


def config_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise DanceMosaicError(f"robot config {path} does not exist")
        return path
    path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise DanceMosaicError(f"unknown robot {name_or_path!r}; known robots: {', '.join(known)} "
                               f"(configs in {CONFIG_DIR}), or give the path of a robot YAML")
    return path


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> RobotConfig:
    return _parse(Path(path))


def load_robot(name_or_path: str | Path = "g1") -> RobotConfig:
    """Robot config by name (`config/robots/<name>.yaml`) or YAML path, checked and with its
    Pinocchio model; cached per file."""
    path = config_path(name_or_path).resolve()
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


# --- parsing ------------------------------------------------------------------------------------
def _need(cfg: dict, key: str, where: str):
    if key not in cfg:
        raise DanceMosaicError(f"{where}: missing field `{key}`; see docs/robot.md for the robot config fields")
    return cfg[key]


def _resolve_urdf(value: str, where: Path) -> Path:
    if value.startswith(ROBOT_DATA_PREFIX):
        path = robot_data_dir() / value[len(ROBOT_DATA_PREFIX):]
    else:
        path = Path(value)
        if not path.is_absolute():
            path = where.parent / path
    if not path.is_file():
        raise DanceMosaicError(f"{where}: urdf {value!r} -> {path} does not exist; fix `urdf` (a path "
                               f"relative to the config, or `{ROBOT_DATA_PREFIX}<robot>/urdf/<file>.urdf`)")
    return path


def _read_urdf(urdf: Path, where: Path, floating: bool) -> pin.Model:
    try:
        if floating:
            return pin.buildModelFromUrdf(str(urdf), pin.JointModelFreeFlyer())
        return pin.buildModelFromUrdf(str(urdf))
    except ValueError as exc:
        raise DanceMosaicError(f"{where}: Pinocchio cannot read the URDF {urdf} ({exc}); every revolute "
                               "joint needs <limit lower=.. upper=.. velocity=.. effort=..>") from None


def _frame_id(model: pin.Model, name: str, field_name: str, where: Path) -> int:
    if not model.existFrame(name):
        frames = [f.name for f in model.frames]
        close = difflib.get_close_matches(name, frames, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise DanceMosaicError(f"{where}: {field_name} = {name!r} is not a frame of the URDF; {hint}"
                               f"fix the frame name (frames: {', '.join(frames[:12])}, ...)")
    return model.getFrameId(name)


def _joint_map(value, names, default, where: Path, field_name: str) -> np.ndarray:
    """A number for every joint, or {joint: number, default: number}."""
    if isinstance(value, dict):
        unknown = [k for k in value if k != "default" and k not in names]
        if unknown:
            raise DanceMosaicError(f"{where}: {field_name} names unknown joint(s) {', '.join(unknown)}; "
                                   f"use joints from `joints`")
        fallback = value.get("default", default)
        return np.array([float(value.get(n, np.nan if fallback is None else fallback)) for n in names])
    return np.full(len(names), float(value))


def _parse(path: Path) -> RobotConfig:
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DanceMosaicError(f"robot config {path} is not valid YAML: {exc}") from None
    name = str(_need(cfg, "name", path))
    urdf = _resolve_urdf(str(_need(cfg, "urdf", path)), path)
    joint_names = tuple(_need(cfg, "joints", path))
    base_frame = str(cfg.get("base_frame", "base_link"))
    full = _read_urdf(urdf, path, floating=False)

    for n in joint_names:
        if not full.existJointName(n):
            close = difflib.get_close_matches(n, list(full.names), n=3)
            raise DanceMosaicError(f"{path}: joints lists {n!r}, which is not a joint of {urdf.name}"
                                   + (f"; did you mean {', '.join(close)}?" if close else ""))
        jm = full.joints[full.getJointId(n)]
        if jm.nq != 1:
            raise DanceMosaicError(f"{path}: joint {n} is {jm.shortname()} ({jm.nq} coordinates): a "
                                   "continuous joint has no limits; make it `revolute` with <limit> in the URDF")

    limits = cfg.get("limits") or {}
    lower = np.array([full.lowerPositionLimit[full.joints[full.getJointId(n)].idx_q] for n in joint_names])
    upper = np.array([full.upperPositionLimit[full.joints[full.getJointId(n)].idx_q] for n in joint_names])
    velocity = np.array([full.velocityLimit[full.joints[full.getJointId(n)].idx_v] for n in joint_names])
    effort = np.array([full.effortLimit[full.joints[full.getJointId(n)].idx_v] for n in joint_names])
    for jname, bounds in (limits.get("position") or {}).items():
        if jname not in joint_names or len(bounds) != 2:
            raise DanceMosaicError(f"{path}: limits.position.{jname} must be [lower, upper] of a joint in `joints`")
        i = joint_names.index(jname)
        lower[i], upper[i] = float(bounds[0]), float(bounds[1])
    for jname, v in (limits.get("velocity") or {}).items():
        if jname not in joint_names:
            raise DanceMosaicError(f"{path}: limits.velocity.{jname}: not a joint in `joints`")
        velocity[joint_names.index(jname)] = float(v)
    for i, n in enumerate(joint_names):
        if not (np.isfinite(lower[i]) and np.isfinite(upper[i]) and lower[i] < upper[i]):
            raise DanceMosaicError(f"{path}: joint {n} has no usable position limits in {urdf.name} "
                                   f"(lower={lower[i]}, upper={upper[i]}); add lower/upper to its URDF "
                                   f"<limit> or set `limits: position: {{{n}: [lower, upper]}}` in the config")
        if not (np.isfinite(velocity[i]) and 0 < velocity[i] < 1e6):
            raise DanceMosaicError(f"{path}: joint {n} has no velocity limit in {urdf.name} "
                                   f"(velocity={velocity[i]}); add velocity= to its URDF <limit> or set "
                                   f"`limits: velocity: {{{n}: rad_per_s}}` in the config")
    acceleration = _joint_map(limits.get("acceleration", 50.0), joint_names, 50.0, path, "limits.acceleration")
    if not np.all(acceleration > 0):
        raise DanceMosaicError(f"{path}: limits.acceleration must be positive for every joint")

    neutral_map = cfg.get("neutral") or {}
    bad = [k for k in neutral_map if k not in joint_names]
    if bad:
        raise DanceMosaicError(f"{path}: neutral names unknown joint(s) {', '.join(bad)}")
    neutral = np.clip([float(neutral_map.get(n, 0.0)) for n in joint_names], lower, upper)

    keypoints = _parse_keypoints(cfg, full, path)
    orientations = {}
    for oname, o in (cfg.get("orientations") or {}).items():
        body = o.get("body", oname)
        if body not in BODIES:
            raise DanceMosaicError(f"{path}: orientations.{oname}.body = {body!r}; use one of {', '.join(BODIES)}")
        frame = str(_need(o, "frame", f"{path}: orientations.{oname}"))
        _frame_id(full, frame, f"orientations.{oname}.frame", path)
        orientations[oname] = OrientationTask(oname, frame, body, float(o.get("weight", 1.0)))
    if not {"pelvis", "torso"} <= {o.body for o in orientations.values()}:
        raise DanceMosaicError(f"{path}: orientations needs entries for the pelvis and torso bodies "
                               "(the frames that turn with the human pelvis and chest)")
    feet = {}
    for side in ("left", "right"):
        f = _need(cfg.get("feet") or {}, side, f"{path}: feet")
        sole = np.asarray(_need(f, "sole", f"{path}: feet.{side}"), dtype=float)
        if sole.ndim != 2 or sole.shape[1] != 3 or len(sole) < 1:
            raise DanceMosaicError(f"{path}: feet.{side}.sole must be a list of [x, y, z] points")
        for key in ("ankle", "toe"):
            if f.get(key) not in keypoints:
                raise DanceMosaicError(f"{path}: feet.{side}.{key} = {f.get(key)!r} must name a keypoint")
        knee = keypoints[f["ankle"]].parent
        if knee is None or keypoints[knee].parent is None:
            raise DanceMosaicError(f"{path}: feet.{side}.ankle = {f['ankle']!r} must hang from a knee keypoint "
                                   "that hangs from a hip keypoint (the leg length scales the motion)")
        frame = str(_need(f, "frame", f"{path}: feet.{side}"))
        _frame_id(full, frame, f"feet.{side}.frame", path)
        feet[side] = Foot(side, f["ankle"], f["toe"], frame, sole)
    _frame_id(full, base_frame, "base_frame", path)

    robot = RobotConfig(
        name=name, config_path=path, urdf=urdf, floating_base=bool(cfg.get("floating_base", True)),
        base_frame=base_frame, joint_names=joint_names, lower=lower, upper=upper, velocity=velocity,
        acceleration=acceleration, effort=effort, neutral_q=neutral, keypoints=keypoints,
        orientations=orientations, feet=feet, proxy=dict(cfg.get("proxy") or {}),
        sim=dict(cfg.get("sim") or {}), standing_height=0.0)
    robot.standing_height = _standing_height(robot)
    return robot


def _parse_keypoints(cfg: dict, full: pin.Model, path: Path) -> dict[str, Keypoint]:
    raw = _need(cfg, "keypoints", path)
    keypoints: dict[str, Keypoint] = {}
    for name, k in raw.items():
        where = f"keypoints.{name}"
        if name not in JOINT_INDEX:
            raise DanceMosaicError(f"{path}: {where}: {name!r} is not a skeleton joint; use one of "
                                   f"{', '.join(JOINT_NAMES)}")
        frame = str(_need(k, "frame", f"{path}: {where}"))
        _frame_id(full, frame, f"{where}.frame", path)
        parent = k.get("parent")
        rule = k.get("rule", "root" if parent is None else "limb")
        if rule not in RULES or (rule == "root") != (parent is None):
            raise DanceMosaicError(f"{path}: {where}.rule = {rule!r}; the one keypoint without a parent is "
                                   "the root, the others are `limb` or `rigid`")
        if parent is not None and parent not in keypoints:
            raise DanceMosaicError(f"{path}: {where}.parent = {parent!r} must be a keypoint listed above it")
        body = k.get("body")
        if rule == "rigid" and body not in BODIES:
            raise DanceMosaicError(f"{path}: {where}.body = {body!r}; a rigid keypoint names one of "
                                   f"{', '.join(BODIES)}")
        offset = np.asarray(k.get("offset", [0.0, 0.0, 0.0]), dtype=float)
        if offset.shape != (3,):
            raise DanceMosaicError(f"{path}: {where}.offset must be [x, y, z]")
        keypoints[name] = Keypoint(name, frame, offset, parent, rule, body, float(k.get("weight", 1.0)))
    roots = [k for k in keypoints.values() if k.rule == "root"]
    if len(roots) != 1 or roots[0].name != "pelvis":
        raise DanceMosaicError(f"{path}: keypoints need exactly one root (no parent): pelvis")
    missing = [n for n in REQUIRED_KEYPOINTS if n not in keypoints]
    if missing:
        raise DanceMosaicError(f"{path}: keypoints is missing {', '.join(missing)}; map each of these "
                               "human joints to a robot frame")
    return keypoints


def _build_model(robot: RobotConfig, floating: bool) -> pin.Model:
    full = _read_urdf(robot.urdf, robot.config_path, floating)
    q_ref = pin.neutral(full)
    lock = []
    for jid in range(1, full.njoints):
        name = full.names[jid]
        if name in robot.joint_names or full.joints[jid].nq == 7:
            continue
        lock.append(jid)
        if full.joints[jid].nq == 1:
            q_ref[full.joints[jid].idx_q] = np.clip(0.0, full.lowerPositionLimit[full.joints[jid].idx_q],
                                                   full.upperPositionLimit[full.joints[jid].idx_q])
    model = pin.buildReducedModel(full, lock, q_ref) if lock else full
    for k in robot.keypoints.values():
        parent = model.frames[model.getFrameId(k.frame)]
        placement = parent.placement * pin.SE3(np.eye(3), k.offset)
        model.addFrame(pin.Frame(KEYPOINT_FRAME.format(k.name), parent.parentJoint,
                                 model.getFrameId(k.frame), placement, pin.FrameType.OP_FRAME))
    # The retargeter's limits (config overrides included) are the model's limits.
    for i, n in enumerate(robot.joint_names):
        j = model.joints[model.getJointId(n)]
        model.lowerPositionLimit[j.idx_q] = robot.lower[i]
        model.upperPositionLimit[j.idx_q] = robot.upper[i]
        model.velocityLimit[j.idx_v] = robot.velocity[i]
    return model


def sole_points(robot: RobotConfig, model: pin.Model, data: pin.Data) -> np.ndarray:
    """World positions (2, k, 3) of the left and right sole points after frame placements."""
    out = []
    for side in ("left", "right"):
        foot = robot.feet[side]
        m = data.oMf[model.getFrameId(foot.frame)]
        out.append(foot.sole @ m.rotation.T + m.translation)
    return np.stack(out)


def _standing_height(robot: RobotConfig) -> float:
    model = robot.model(floating=True)
    data = model.createData()
    q = robot.configuration(model, robot.neutral_q, np.array([0, 0, 0, 0, 0, 0, 1.0]))
    pin.framesForwardKinematics(model, data, q)
    return float(-sole_points(robot, model, data)[..., 2].min())
