"""Differentiable joint-limit penalty on 22-joint motions, for inference-time token optimisation.

    penalty = joint_limit_proxy(load_robot("g1"))      # callable (B, T, 22, 3) -> (B,)

The penalty is zero for poses the robot can reach within its position limits and grows with
the violation. Its terms are geometric features of the skeleton, each compared with the set of
values the robot itself reaches: the same feature functions run on robot poses sampled uniformly
inside the URDF limits (through layout.RobotSkeleton), so no joint-angle convention of the
human side has to match the robot's.
  hip / shoulder ranges  thigh direction in the pelvis frame, upper-arm direction in the torso
                         frame: angle to the nearest sampled robot direction
  torso bend             torso up axis in the pelvis frame untwisted, the same way
  knee, elbow flexion    signed knee flexion (sign from the foot), unsigned elbow flexion:
  torso twist            distance outside the robot's [min, max]
  foot distance          ankles side by side closer than the robot's feet allow, or crossed
                         (config proxy.min_foot_distance, scaled to the human)
penalty = mean over frames of the sum of squared violations (radians; metres x 10).
"""
from __future__ import annotations

import numpy as np
import torch

from dancemosaic_core.motion.skeleton import JOINT_INDEX, PARENTS, rest_pose
from dancemosaic_core.retarget.body import (
    body_frames,
    cross,
    dot,
    normalize,
    to_robot_axes,
)
from dancemosaic_core.retarget.layout import RobotSkeleton
from dancemosaic_core.retarget.robot import RobotConfig

J = JOINT_INDEX
DIRECTIONS = ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "torso_bend")
RANGES = ("left_knee", "right_knee", "left_elbow", "right_elbow", "torso_twist")
FOOT_WEIGHT = 10.0          # metres of foot overlap count like this many radians
FOOT_REACH = 0.25           # m (human scale): feet this far apart in front/height never collide


def _local(frame, v):
    """v expressed in the body frame (F^T v)."""
    return torch.einsum("...ji,...j->...i", frame, v)


def _atan2(y, x):
    """atan2 with a finite gradient where both arguments vanish (collapsed bones)."""
    degenerate = (x.abs() + y.abs()) < 1e-12
    return torch.atan2(y, torch.where(degenerate, torch.ones_like(x), x))


def _angle(u, w, axis=None):
    """Angle between u and w, signed about `axis` when given."""
    c = cross(u, w)
    sine = dot(c, axis) if axis is not None else (dot(c, c) + 1e-12) ** 0.5
    return _atan2(sine, dot(u, w))


def features(p: torch.Tensor) -> tuple[dict, dict]:
    """Direction features (..., 3) and scalar features (...) of joints (..., 22, 3), robot axes."""
    f = body_frames(p)
    x = {n: p[..., J[n], :] for n in J}
    directions = {
        "left_hip": _local(f["pelvis"], normalize(x["left_knee"] - x["left_hip"])),
        "right_hip": _local(f["pelvis"], normalize(x["right_knee"] - x["right_hip"])),
        "left_shoulder": _local(f["torso"], normalize(x["left_elbow"] - x["left_shoulder"])),
        "right_shoulder": _local(f["torso"], normalize(x["right_elbow"] - x["right_shoulder"])),
    }
    scalars = {}
    for side in ("left", "right"):
        hip, knee, ankle, toe = (x[f"{side}_{n}"] for n in ("hip", "knee", "ankle", "foot"))
        # knee hinge axis from foot and shank (the ankle keeps them 40-140 degrees apart), so
        # flexion keeps its sign whatever the hip yaw
        axis = normalize(cross(toe - ankle, ankle - knee))
        scalars[f"{side}_knee"] = _angle(knee - hip, ankle - knee, axis)
        shoulder, elbow, wrist = (x[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
        scalars[f"{side}_elbow"] = _angle(elbow - shoulder, wrist - elbow)
    lateral = _local(f["pelvis"], f["torso"][..., 1])
    twist = _atan2(-lateral[..., 0], lateral[..., 1])
    scalars["torso_twist"] = twist
    # Bend of the chest in the pelvis frame turned by the twist: a waist that yaws first and then
    # rolls/pitches reaches far fewer bends without twisting than with.
    up = _local(f["pelvis"], f["torso"][..., 2])
    c, s = torch.cos(twist), torch.sin(twist)
    directions["torso_bend"] = torch.stack([c * up[..., 0] + s * up[..., 1], c * up[..., 1] - s * up[..., 0],
                                            up[..., 2]], -1)
    return directions, scalars


class JointLimitProxy:
    """Callable penalty; build it with joint_limit_proxy(robot)."""

    def __init__(self, robot: RobotConfig, *, samples: int = 20000, tolerance: float = 0.1,
                 range_tolerance: float = 0.05, seed: int = 0):
        self.robot_name = robot.name
        self.tolerance, self.range_tolerance = tolerance, range_tolerance
        poses = sample_robot_poses(robot, samples, seed)
        with torch.no_grad():
            dirs, scal = features(torch.from_numpy(poses))
        grid = 0.7 * tolerance            # merge sampled directions closer than this (keeps the sets small)
        self.directions = {}
        for n in DIRECTIONS:
            d = dirs[n].numpy()
            _, keep = np.unique(np.round(d / grid), axis=0, return_index=True)
            self.directions[n] = torch.from_numpy(d[np.sort(keep)]).float()
        self._moved = {}
        self.ranges = {n: (float(scal[n].min()), float(scal[n].max())) for n in RANGES}
        rest = to_robot_axes(rest_pose())
        human_leg = np.mean([np.linalg.norm(rest[J[f"{s}_hip"]] - rest[J[f"{s}_knee"]])
                             + np.linalg.norm(rest[J[f"{s}_knee"]] - rest[J[f"{s}_ankle"]]) for s in ("left", "right")])
        skeleton = RobotSkeleton(robot)
        neutral = skeleton.joints(robot.neutral_q)
        robot_leg = np.mean([np.linalg.norm(neutral[J[f"{s}_hip"]] - neutral[J[f"{s}_knee"]])
                             + np.linalg.norm(neutral[J[f"{s}_knee"]] - neutral[J[f"{s}_ankle"]]) for s in ("left", "right")])
        # Human-scale threshold: the retargeter scales the body by robot leg / human leg.
        self.min_foot_distance = float(robot.proxy.get("min_foot_distance", 0.0)) * human_leg / robot_leg

    def _on(self, like: torch.Tensor, name: str) -> torch.Tensor:
        """Direction set `name` on the device and dtype of `like` (copied once per device)."""
        key = (name, like.device, like.dtype)
        if key not in self._moved:
            self._moved[key] = self.directions[name].to(device=like.device, dtype=like.dtype)
        return self._moved[key]

    def terms(self, joints: torch.Tensor) -> dict[str, torch.Tensor]:
        """Violation per term and frame (...,): radians, or metres for foot_distance."""
        p = to_robot_axes(joints)
        dirs, scal = features(p)
        out = {}
        for n in DIRECTIONS:
            sets = self._on(p, n)
            nearest = (dirs[n] @ sets.T).amax(-1).clamp(-1 + 1e-7, 1 - 1e-7)
            out[n] = torch.relu(torch.acos(nearest) - self.tolerance)
        for n in RANGES:
            lo, hi = self.ranges[n]
            out[n] = torch.relu(lo - self.range_tolerance - scal[n]) + torch.relu(scal[n] - hi - self.range_tolerance)
        # Ankles side by side closer than the robot's feet allow, or crossed over: the gap along
        # the pelvis's left axis, counted while the feet are level with each other (a foot
        # 25 cm ahead, behind or above the other passes freely).
        gap = _local(body_frames(p)["pelvis"], p[..., J["left_ankle"], :] - p[..., J["right_ankle"], :])
        level = torch.relu(1 - (gap[..., 0].square() + gap[..., 2].square() + 1e-12) ** 0.5 / FOOT_REACH)
        out["foot_distance"] = torch.relu(self.min_foot_distance - gap[..., 1]) * level
        return out

    def __call__(self, joints: torch.Tensor) -> torch.Tensor:
        """joints (B, T, 22, 3) y-up metres -> (B,) penalty (0 where the robot can follow)."""
        if joints.ndim != 4 or joints.shape[-2:] != (22, 3):
            raise ValueError(f"joint_limit_proxy expects (batch, frames, 22, 3) joints, got {tuple(joints.shape)}")
        terms = self.terms(joints)
        total = sum(v.square() for k, v in terms.items() if k != "foot_distance")
        total = total + (FOOT_WEIGHT * terms["foot_distance"]).square()
        return total.mean(-1)


def sample_robot_poses(robot: RobotConfig, samples: int, seed: int) -> np.ndarray:
    """(samples, 22, 3) robot-axes skeletons of joint vectors drawn uniformly inside the limits;
    the first ones put each joint at its lower and upper limit (others neutral)."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(robot.lower, robot.upper, size=(samples, robot.num_joints))
    n = robot.num_joints
    corners = np.repeat(robot.neutral_q[None], 2 * n, axis=0)
    corners[np.arange(n), np.arange(n)] = robot.lower
    corners[n + np.arange(n), np.arange(n)] = robot.upper
    q[:min(samples, 2 * n)] = corners[:samples]
    skeleton = RobotSkeleton(robot)
    return np.stack([skeleton.joints(qi) for qi in q])


_CACHE: dict = {}


def joint_limit_proxy(robot: RobotConfig, **options) -> JointLimitProxy:
    """The robot's differentiable joint-limit penalty (cached per robot config and options)."""
    key = (str(robot.config_path), robot.config_path.stat().st_mtime, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = JointLimitProxy(robot, **options)
    return _CACHE[key]


def _rodrigues(aa: torch.Tensor) -> torch.Tensor:
    angle = (dot(aa, aa) + 1e-12) ** 0.5
    k = aa / angle[..., None]
    K = torch.zeros(*aa.shape[:-1], 3, 3, dtype=aa.dtype, device=aa.device)
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K = K - K.transpose(-1, -2)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return torch.eye(3, dtype=aa.dtype, device=aa.device) + s * K + (1 - c) * (K @ K)


def rotate_bones(joints: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Joints (..., 22, 3) with each joint's child bones turned by its axis-angle rotation
    (..., 22, 3), down the kinematic tree: a pose change that keeps every bone length."""
    turn = _rodrigues(rotations)
    world = [turn[..., 0, :, :]]
    out = [joints[..., 0, :]]
    for j in range(1, len(PARENTS)):
        p = PARENTS[j]
        bone = joints[..., j, :] - joints[..., p, :]
        out.append(out[p] + (world[p] @ bone[..., None])[..., 0])
        world.append(world[p] @ turn[..., j, :, :])
    return torch.stack(out, -2)


def descend(proxy: JointLimitProxy, joints: np.ndarray, *, steps: int = 100, lr: float = 0.02,
            stay: float = 1e-3) -> np.ndarray:
    """Move a motion (T, 22, 3) y-up into the robot's reach by gradient descent of the proxy on
    per-joint rotations (bone lengths kept; `stay` weighs how far the joints may turn). The same
    penalty steers ITTO through the decoder; this is its direct, post-hoc form."""
    base = torch.as_tensor(np.asarray(joints, np.float64)).float()
    rotations = torch.zeros_like(base, requires_grad=True)
    optimizer = torch.optim.Adam([rotations], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        # each frame its own sequence: the step per frame does not shrink with the clip length
        loss = proxy(rotate_bones(base, rotations)[:, None]).sum() + stay * rotations.square().sum(-1).sum(-1).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return rotate_bones(base, rotations).numpy()
