"""Messages <-> numpy and core types. Every reader validates and raises DanceMosaicError naming
the problem, so a node can log it, count it and keep everything it already had."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from dancemosaic.msg import AudioChunk, MotionChunk, PoseConstraint
from geometry_msgs.msg import PoseStamped, Transform
from trajectory_msgs.msg import (
    JointTrajectory,
    JointTrajectoryPoint,
    MultiDOFJointTrajectory,
    MultiDOFJointTrajectoryPoint,
)

from dancemosaic_core.audio.io import MAX_SR, MIN_SR
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import MAX_CONSTRAINTS, PoseConstraints
from dancemosaic_core.motion.skeleton import NUM_JOINTS

# Bounds of what one message may size (docs/ros.md, "Bounds"): past them it is refused unread.
MAX_AUDIO_CHANNELS = 8
MAX_AUDIO_BLOCK_FRAMES = 65536          # the audio node's largest block_size
MAX_CHUNK_FRAMES = 600                  # 30 s at 20 fps; the generator sends chunk_seconds <= 10
MAX_TRAJECTORY_POINTS = 12000          # a reference trajectory message: 60 s at 200 points a second
BASE_JOINT = "floating_base"            # the one joint of the base reference (MultiDOFJointTrajectory)


def to_seconds(stamp) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def to_time(seconds: float) -> Time:
    sec, nanosec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def to_duration(seconds: float) -> Duration:
    sec, nanosec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)


# --- audio ---------------------------------------------------------------------------------------
def audio_mono(msg: AudioChunk) -> np.ndarray:
    """The block's samples mixed to mono float32; refuses inconsistent or non-finite blocks."""
    if not (MIN_SR <= msg.sample_rate <= MAX_SR):
        raise DanceMosaicError(f"audio chunk at {msg.sample_rate} Hz is outside {MIN_SR}..{MAX_SR} Hz; "
                               "set the audio node's sample_rate")
    if not 1 <= msg.channels <= MAX_AUDIO_CHANNELS:
        raise DanceMosaicError(f"audio chunk has {msg.channels} channels; send 1..{MAX_AUDIO_CHANNELS}")
    if len(msg.samples) > MAX_AUDIO_BLOCK_FRAMES * msg.channels:
        raise DanceMosaicError(f"audio chunk has {len(msg.samples) // msg.channels} frames; send blocks of at "
                               f"most {MAX_AUDIO_BLOCK_FRAMES} frames (the audio node's block_size)")
    samples = np.asarray(msg.samples, dtype=np.float32)
    if len(samples) % msg.channels:
        raise DanceMosaicError(f"audio chunk has {len(samples)} samples for {msg.channels} channels; "
                               "samples must hold channels x frames interleaved values")
    if not np.isfinite(samples).all():
        raise DanceMosaicError("audio chunk holds NaN or infinite samples; the capture is corrupt")
    return samples.reshape(-1, msg.channels).mean(axis=1, dtype=np.float32)


# --- motion --------------------------------------------------------------------------------------
def motion_chunk_msg(chunk, *, stamp_seconds: float, audio_time: float) -> MotionChunk:
    """A streaming.DanceChunk as a message; stamp_seconds: ROS time of its frame 0."""
    joints = np.asarray(chunk.joints, dtype=np.float32)
    msg = MotionChunk()
    msg.header.stamp = to_time(stamp_seconds)
    msg.start_time, msg.fps, msg.index = float(chunk.start_time), float(chunk.fps), int(chunk.index)
    msg.num_frames, msg.num_joints = joints.shape[0], joints.shape[1]
    msg.positions = joints.reshape(-1)
    msg.tempo_bpm, msg.beat_phase = float(chunk.tempo_bpm), float(chunk.beat_phase)
    msg.compute_seconds, msg.audio_time = float(chunk.compute_seconds), float(audio_time)
    # a chunk drafted ahead (StreamingDancer.prepare) conditioned its tokens on older audio
    msg.draft_audio_time = float(min(chunk.info.get("draft_heard_seconds", audio_time), audio_time))
    return msg


def motion_joints(msg: MotionChunk, fps: float) -> np.ndarray:
    """(N, 22, 3) float64 joints of a chunk; refuses wrong sizes, rates or non-finite values."""
    if msg.num_joints != NUM_JOINTS:
        raise DanceMosaicError(f"motion chunk {msg.index} has {msg.num_joints} joints; the retargeter "
                               f"reads the {NUM_JOINTS} SMPL joints of dancemosaic_core.motion.skeleton")
    if not 1 <= msg.num_frames <= MAX_CHUNK_FRAMES:
        raise DanceMosaicError(f"motion chunk {msg.index} has {msg.num_frames} frames; send 1..{MAX_CHUNK_FRAMES} "
                               "(the generator's chunk_seconds x fps)")
    positions = np.asarray(msg.positions, dtype=np.float64)
    if len(positions) != msg.num_frames * NUM_JOINTS * 3:
        raise DanceMosaicError(f"motion chunk {msg.index} has {len(positions)} values for {msg.num_frames} "
                               f"frames x {NUM_JOINTS} joints x 3; the generator must fill all of them")
    if abs(msg.fps - fps) > 1e-6:
        raise DanceMosaicError(f"motion chunk {msg.index} is at {msg.fps} fps but the retarget node runs at "
                               f"{fps} fps; set its fps parameter to the generator's rate")
    if not np.isfinite(positions).all():
        raise DanceMosaicError(f"motion chunk {msg.index} holds NaN or infinite positions; dropped")
    return positions.reshape(msg.num_frames, NUM_JOINTS, 3)


# --- pose constraints ----------------------------------------------------------------------------
def pose_constraints(msg: PoseConstraint, offset: float) -> PoseConstraints:
    """The message's constraints on the generator's clock: times + offset (offset = header stamp
    minus the stream origin, seconds)."""
    if msg.mode not in (PoseConstraint.MODE_REPLACE, PoseConstraint.MODE_APPEND, PoseConstraint.MODE_CLEAR):
        raise DanceMosaicError(f"pose constraint mode {msg.mode} is unknown; use MODE_REPLACE (0), "
                               "MODE_APPEND (1) or MODE_CLEAR (2)")
    n = len(msg.times)
    if max(n, len(msg.joint_names), len(msg.positions), len(msg.weights)) > MAX_CONSTRAINTS:
        raise DanceMosaicError(f"pose constraints: more than {MAX_CONSTRAINTS} entries in one message; send at "
                               f"most {MAX_CONSTRAINTS}")
    if msg.mode == PoseConstraint.MODE_CLEAR and (n or len(msg.joint_names) or len(msg.positions)):
        raise DanceMosaicError("MODE_CLEAR pose constraints must have empty arrays")
    weights = np.asarray(msg.weights, dtype=np.float64) if len(msg.weights) else None
    positions = np.array([[p.x, p.y, p.z] for p in msg.positions], dtype=np.float64).reshape(-1, 3)
    if len(positions) != n:
        raise DanceMosaicError(f"pose constraints: {n} times but {len(positions)} positions; give one "
                               "position per constraint")
    return PoseConstraints(np.asarray(msg.times, dtype=np.float64) + offset, list(msg.joint_names),
                           positions, weights)


def merge_constraints(old: PoseConstraints | None, new: PoseConstraints) -> PoseConstraints:
    if old is None or len(old) == 0:
        return new
    if len(old) + len(new) > MAX_CONSTRAINTS:
        raise DanceMosaicError(f"pose constraints: appending {len(new)} to {len(old)} would exceed "
                               f"{MAX_CONSTRAINTS}; send MODE_CLEAR or MODE_REPLACE first")
    return PoseConstraints(np.concatenate([old.times, new.times]), old.joints + new.joints,
                           np.vstack([old.positions, new.positions]), np.concatenate([old.weights, new.weights]))


# --- trajectories --------------------------------------------------------------------------------
def joint_trajectory_msg(segment, joint_names, epoch_ns: int = 0) -> JointTrajectory:
    """A streamer.Segment as a JointTrajectory: stamp on the music clock, every joint, positions
    and velocities (and efforts when the segment has them), time_from_start strictly increasing
    (segment times are >= 1 us apart).
    Segment times are seconds after `epoch_ns` (ROS time, ns): small numbers keep float64 exact."""
    msg = JointTrajectory()
    stamp_ns = epoch_ns + int(round(segment.stamp * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.joint_names = list(joint_names)
    efforts = getattr(segment, "efforts", None)
    for i, (t, q, v) in enumerate(zip(segment.times, segment.positions, segment.velocities)):
        sec, nanosec = divmod(epoch_ns + int(round(t * 1e9)) - stamp_ns, 1_000_000_000)
        point = JointTrajectoryPoint(positions=q.tolist(), velocities=v.tolist(),
                                     time_from_start=Duration(sec=sec, nanosec=nanosec))
        if efforts is not None:
            point.effort = efforts[i].tolist()
        msg.points.append(point)
    return msg


def base_pose_msg(pose: np.ndarray, stamp, frame_id: str) -> PoseStamped:
    """A floating-base pose x y z qx qy qz qw (the retargeter's base) as a PoseStamped."""
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    x, y, z, qx, qy, qz, qw = (float(v) for v in pose)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = qx, qy, qz, qw
    return msg


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _point_times(msg, epoch_ns: int) -> np.ndarray:
    """Absolute point times of a trajectory message, seconds after epoch_ns; strictly increasing."""
    stamp_ns = _stamp_ns(msg.header.stamp)
    times = np.array([stamp_ns - epoch_ns + p.time_from_start.sec * 1_000_000_000 + p.time_from_start.nanosec
                      for p in msg.points], dtype=np.float64) * 1e-9
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise DanceMosaicError("trajectory points must have strictly increasing time_from_start")
    return times


def joint_trajectory_points(msg: JointTrajectory, joint_names, epoch_ns: int = 0):
    """(times (k,), positions (k, n), velocities (k, n)) of a JointTrajectory in the order of
    `joint_names` (velocities 0 where the message has none); refuses other joints, missing or
    non-finite values and too many points."""
    names = list(joint_names)
    if sorted(msg.joint_names) != sorted(names):
        missing, unknown = sorted(set(names) - set(msg.joint_names)), sorted(set(msg.joint_names) - set(names))
        raise DanceMosaicError(f"trajectory joints do not match the robot's: missing {missing[:5]}, unknown "
                               f"{unknown[:5]}; publish every controller joint of the robot config, once")
    if not 1 <= len(msg.points) <= MAX_TRAJECTORY_POINTS:
        raise DanceMosaicError(f"trajectory has {len(msg.points)} points; send 1..{MAX_TRAJECTORY_POINTS}")
    order = [list(msg.joint_names).index(name) for name in names]
    if any(len(p.positions) != len(names) or len(p.velocities) not in (0, len(names)) for p in msg.points):
        raise DanceMosaicError(f"every trajectory point needs {len(names)} positions (and none or {len(names)} "
                               "velocities), one per joint name")
    positions = np.array([p.positions for p in msg.points], dtype=np.float64)[:, order]
    velocities = np.array([p.velocities if len(p.velocities) else [0.0] * len(names) for p in msg.points],
                          dtype=np.float64)[:, order]
    if not (np.isfinite(positions).all() and np.isfinite(velocities).all()):
        raise DanceMosaicError("trajectory holds NaN or infinite positions or velocities; refused")
    return _point_times(msg, epoch_ns), positions, velocities


def base_trajectory_msg(times: np.ndarray, poses: np.ndarray, stamp_seconds: float, epoch_ns: int = 0,
                        frame_id: str = "world") -> MultiDOFJointTrajectory:
    """Floating-base poses (k, 7) x y z qx qy qz qw at absolute times (k,) (seconds after
    epoch_ns, all after stamp_seconds) as a MultiDOFJointTrajectory of the one joint BASE_JOINT."""
    msg = MultiDOFJointTrajectory(joint_names=[BASE_JOINT])
    stamp_ns = epoch_ns + int(round(stamp_seconds * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = frame_id
    for t, pose in zip(times, poses):
        sec, nanosec = divmod(epoch_ns + int(round(t * 1e9)) - stamp_ns, 1_000_000_000)
        transform = Transform()
        transform.translation.x, transform.translation.y, transform.translation.z = (float(v) for v in pose[:3])
        r = transform.rotation
        r.x, r.y, r.z, r.w = (float(v) for v in pose[3:])
        msg.points.append(MultiDOFJointTrajectoryPoint(transforms=[transform],
                                                       time_from_start=Duration(sec=sec, nanosec=nanosec)))
    return msg


def base_trajectory_poses(msg: MultiDOFJointTrajectory, epoch_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(times (k,), poses (k, 7) x y z qx qy qz qw) of a base reference; refuses anything but one
    joint with one transform per point, non-finite values and unnormalised quaternions."""
    if list(msg.joint_names) != [BASE_JOINT]:
        raise DanceMosaicError(f"base reference joints {list(msg.joint_names)}; send the one joint {BASE_JOINT!r}")
    if not 1 <= len(msg.points) <= MAX_TRAJECTORY_POINTS or any(len(p.transforms) != 1 for p in msg.points):
        raise DanceMosaicError(f"base reference needs 1..{MAX_TRAJECTORY_POINTS} points of one transform each")
    poses = np.array([[p.transforms[0].translation.x, p.transforms[0].translation.y, p.transforms[0].translation.z,
                       p.transforms[0].rotation.x, p.transforms[0].rotation.y, p.transforms[0].rotation.z,
                       p.transforms[0].rotation.w] for p in msg.points], dtype=np.float64)
    if not np.isfinite(poses).all():
        raise DanceMosaicError("base reference holds NaN or infinite values; refused")
    norms = np.linalg.norm(poses[:, 3:], axis=1)
    if np.any(np.abs(norms - 1.0) > 0.01):
        raise DanceMosaicError(f"base reference quaternion of norm {norms[np.argmax(np.abs(norms - 1))]:.4g}: "
                               "send unit quaternions x y z w")
    poses[:, 3:] /= norms[:, None]
    return _point_times(msg, epoch_ns), poses
