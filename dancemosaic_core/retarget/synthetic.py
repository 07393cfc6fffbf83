"""Procedural 22-joint dance motions for tests and benchmarks while no generator is at hand:
joint-angle sinusoids on the beat posed on the SMPL rest skeleton (forward kinematics).

`groove` swings arms, legs and torso with random phases and a bounce; `planted_squat` keeps
both feet exactly still on the ground while the body squats and the arms wave.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.motion.skeleton import (
    JOINT_INDEX,
    MOTION_FPS,
    NUM_JOINTS,
    PARENTS,
    REST_OFFSETS,
)

J = JOINT_INDEX


def axis_angle(axis, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about a fixed unit axis by angles (T,)."""
    x, y, z = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def pose(local: dict[str, np.ndarray], frames: int, root: np.ndarray | None = None) -> np.ndarray:
    """Joints (T, 22, 3) y-up of local joint rotations {joint: (T, 3, 3)} on the rest skeleton."""
    world = np.empty((frames, NUM_JOINTS, 3, 3))
    out = np.zeros((frames, NUM_JOINTS, 3))
    eye = np.broadcast_to(np.eye(3), (frames, 3, 3))
    world[:, 0] = local.get("pelvis", eye)
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        out[:, j] = out[:, p] + world[:, p] @ REST_OFFSETS[j]
        world[:, j] = world[:, p] @ local.get(_name(j), eye)
    if root is not None:
        out += root[:, None]
    return out


def _name(j: int) -> str:
    return next(n for n, i in J.items() if i == j)


def _on_ground(joints: np.ndarray) -> np.ndarray:
    feet = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]
    return joints - np.array([0.0, joints[:, feet, 1].min(), 0.0])


def groove(seconds: float = 4.0, *, fps: float = MOTION_FPS, bpm: float = 120.0, energy: float = 1.0,
           seed: int = 0) -> np.ndarray:
    """A dance-like motion (T, 22, 3) float32, y-up metres, feet on y = 0."""
    rng = np.random.default_rng(seed)
    T = round(seconds * fps)
    t = np.arange(T) / fps
    beat = 2 * np.pi * bpm / 60.0

    def wave(amplitude, harmonic=1.0):
        return energy * amplitude * np.sin(harmonic * beat * t / 2 + rng.uniform(0, 2 * np.pi))

    bounce = energy * 0.25 * (1 - np.cos(beat * t)) / 2
    local = {
        "pelvis": axis_angle([0, 1, 0], wave(0.5, 0.25)),
        "left_hip": axis_angle([1, 0, 0], -bounce - np.abs(wave(0.3))) @ axis_angle([0, 0, 1], wave(0.15)),
        "right_hip": axis_angle([1, 0, 0], -bounce - np.abs(wave(0.3))) @ axis_angle([0, 0, 1], wave(0.15)),
        "left_knee": axis_angle([1, 0, 0], 2 * bounce + np.abs(wave(0.4))),
        "right_knee": axis_angle([1, 0, 0], 2 * bounce + np.abs(wave(0.4))),
        "left_ankle": axis_angle([1, 0, 0], -bounce),
        "right_ankle": axis_angle([1, 0, 0], -bounce),
        "spine1": axis_angle([1, 0, 0], wave(0.15)),
        "spine3": axis_angle([0, 1, 0], wave(0.3)) @ axis_angle([0, 0, 1], wave(0.1)),
        "left_shoulder": axis_angle([0, 0, 1], -0.9 + wave(0.7)) @ axis_angle([0, 1, 0], wave(0.6)),
        "right_shoulder": axis_angle([0, 0, 1], 0.9 + wave(0.7)) @ axis_angle([0, 1, 0], wave(0.6)),
        "left_elbow": axis_angle([0, 1, 0], -0.6 - np.abs(wave(0.8, 2))),
        "right_elbow": axis_angle([0, 1, 0], 0.6 + np.abs(wave(0.8, 2))),
    }
    root = np.stack([energy * 0.1 * np.sin(beat * t / 8), np.zeros(T), energy * 0.1 * np.sin(beat * t / 16)], -1)
    return _on_ground(pose(local, T, root)).astype(np.float32)


def planted_squat(seconds: float = 3.0, *, fps: float = MOTION_FPS, depth: float = 0.5) -> np.ndarray:
    """Squats (hip, knee, ankle flexion) with waving arms; both feet stay exactly in place."""
    T = round(seconds * fps)
    t = np.arange(T) / fps
    bend = depth * (1 - np.cos(2 * np.pi * 0.5 * t)) / 2
    local = {"left_hip": axis_angle([1, 0, 0], -bend), "right_hip": axis_angle([1, 0, 0], -bend),
             "left_knee": axis_angle([1, 0, 0], 2 * bend), "right_knee": axis_angle([1, 0, 0], 2 * bend),
             "left_ankle": axis_angle([1, 0, 0], -bend), "right_ankle": axis_angle([1, 0, 0], -bend),
             "left_shoulder": axis_angle([0, 0, 1], -1.0 + 0.5 * np.sin(2 * np.pi * t)),
             "right_shoulder": axis_angle([0, 0, 1], 1.0 - 0.5 * np.sin(2 * np.pi * t))}
    joints = pose(local, T)
    joints -= joints[:, [J["left_ankle"]]] - joints[0, J["left_ankle"]]   # pin the feet
    return _on_ground(joints).astype(np.float32)
