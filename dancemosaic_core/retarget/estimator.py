"""The floating-base state of a real robot from what it measures: joint encoders and one IMU
(no foot force sensor, no motion capture), for the stabilizer (retarget/stabilizer.py).

    estimator = BaseEstimator(robot)
    base, v = estimator.update(t, q, qd, imu_quaternion, imu_rate, reference.contacts,
                               reference.feet, reference.base, imu_acceleration)
    # reference: StreamingStabilizer.reference_at(t); the IMU's fields as sensor_msgs/Imu has them

  orientation   the IMU's quaternion (x y z w) turned into the base frame through the IMU's
                mounting (`imu_orientation`, the IMU axes in the base frame); its yaw is relative
                to where the IMU started, so it is aligned to the reference's yaw at the first
                sample and follows the IMU's yaw changes after that,
  angular rate  the IMU's gyro (IMU axes) in base axes: Pinocchio's v[3:6],
  position      leg odometry: the base placed by the measured joint angles and that orientation
                so that the stance feet (the reference's contact schedule) stay where they touched
                down (horizontally; their height is the reference's, the floor), the first stance
                feet where the reference has them; with no foot in stance it coasts on the velocity,
  velocity      a complementary filter: the IMU's linear acceleration (specific force, IMU axes)
                integrated, pulled towards the stance legs' velocity (the base velocity that keeps
                the stance feet still, from the joint velocities and the gyro) with time constant
                `velocity_time_constant`. The legs alone do not do: a stance foot that rocks on
                its sole moves under the joints' own motion, so the stabilizer's joint offsets read
                back as base velocity within one tick and the loop oscillates (MuJoCo: a standing
                G1 falls within 1.2 s); the accelerometer sees the base move only when it moves.
                Without an acceleration the velocity is the low-passed leg velocity.
                Joint velocities from the joint state, else its filtered finite difference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import GRAVITY
from dancemosaic_core.retarget.robot import RobotConfig
from dancemosaic_core.retarget.targets import rotation_z, yaw_of

WORLD = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
QUATERNION_TOLERANCE = 0.01     # |norm - 1| of an IMU quaternion beyond this: not a rotation


@dataclass
class EstimatorOptions:
    # s: how fast the base velocity follows the stance legs rather than the integrated accelerometer
    # (an accelerometer bias b gives a velocity error b x this)
    velocity_time_constant: float = 0.2
    imu_orientation: tuple = (0.0, 0.0, 0.0, 1.0)            # x y z w: the IMU's axes in the base frame
    joint_velocity_time_constant: float = 0.03               # s, low-pass of differenced joint positions


def rotation_of(quaternion, what: str = "IMU orientation") -> np.ndarray:
    """The rotation matrix of a quaternion x y z w; refuses a non-finite or unnormalised one."""
    quaternion = np.asarray(quaternion, np.float64)
    if quaternion.shape != (4,) or not np.isfinite(quaternion).all():
        raise DanceMosaicError(f"{what} must be 4 finite numbers x y z w; got {quaternion.tolist()}")
    norm = float(np.linalg.norm(quaternion))
    if abs(norm - 1.0) > QUATERNION_TOLERANCE:
        raise DanceMosaicError(f"{what} has norm {norm:.4g}, not 1 (within {QUATERNION_TOLERANCE}): not a "
                               "rotation; the IMU driver must publish a unit quaternion x y z w")
    return pin.XYZQUATToSE3(np.concatenate([np.zeros(3), quaternion / norm])).rotation


class BaseEstimator:
    def __init__(self, robot: RobotConfig, options: EstimatorOptions | None = None):
        self.robot, self.options = robot, options or EstimatorOptions()
        self.model = robot.model(floating=True)
        self.data = self.model.createData()
        self.jv = robot.joint_v_index(self.model)
        self.foot_frames = [self.model.getFrameId(robot.feet[s].frame) for s in ("left", "right")]
        self.mount = rotation_of(self.options.imu_orientation, "imu_orientation")
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample aligns the yaw again and starts the velocities at 0."""
        self.yaw_offset = None
        self.last = None            # (t, position, q) of the previous sample
        self.anchors = [None, None]  # per foot in stance: its world x y since it touched down
        self.velocity = np.zeros(3)
        self.joint_velocity = np.zeros(self.robot.num_joints)

    @staticmethod
    def _filter(filtered: np.ndarray, raw: np.ndarray, dt: float, time_constant: float) -> np.ndarray:
        return filtered + dt / (time_constant + dt) * (raw - filtered)

    def update(self, t: float, q: np.ndarray, qd: np.ndarray | None, imu_quaternion, imu_rate,
               stance: np.ndarray, ref_feet: np.ndarray, ref_base: np.ndarray,
               imu_acceleration=None) -> tuple[np.ndarray, np.ndarray]:
        """(base (7,) x y z qx qy qz qw, v (nv,) Pinocchio velocity) at time t (s) from the joints q
        (n,) and velocities qd (n,) or None, the IMU's quaternion x y z w, rate (rad/s, IMU axes)
        and linear acceleration (m/s^2, IMU axes, gravity included as sensor_msgs/Imu gives it) or
        None, the stance feet (2,) bool and the reference's feet (2, 3) and base pose (7,)."""
        q = np.asarray(q, np.float64)
        rate = np.asarray(imu_rate, np.float64)
        if q.shape != (self.robot.num_joints,) or not np.isfinite(q).all():
            raise DanceMosaicError(f"joint positions must be {self.robot.num_joints} finite numbers in the robot's order")
        if rate.shape != (3,) or not np.isfinite(rate).all():
            raise DanceMosaicError("IMU angular velocity must be 3 finite numbers (rad/s, IMU axes)")
        if imu_acceleration is not None:
            imu_acceleration = np.asarray(imu_acceleration, np.float64)
            if imu_acceleration.shape != (3,) or not np.isfinite(imu_acceleration).all():
                raise DanceMosaicError("IMU linear acceleration must be 3 finite numbers (m/s^2, IMU axes) or None")
        R = rotation_of(imu_quaternion) @ self.mount.T           # world <- base, IMU world
        if self.yaw_offset is None:
            self.yaw_offset = yaw_of(rotation_of(np.asarray(ref_base)[3:], "reference base orientation")) - yaw_of(R)
        R = rotation_z(self.yaw_offset) @ R
        stance = np.asarray(stance, bool)
        dt = t - self.last[0] if self.last is not None and t > self.last[0] else 0.0
        if qd is not None:
            self.joint_velocity = np.asarray(qd, np.float64)
            if self.joint_velocity.shape != q.shape or not np.isfinite(self.joint_velocity).all():
                raise DanceMosaicError(f"joint velocities must be {len(q)} finite numbers in the robot's order")
        elif dt > 0:
            self.joint_velocity = self._filter(self.joint_velocity, (q - self.last[2]) / dt, dt,
                                               self.options.joint_velocity_time_constant)
        v = np.zeros(self.model.nv)
        v[3:6] = self.mount @ rate
        v[self.jv] = self.joint_velocity
        # leg odometry: the stance feet held where they touched down, the base where that puts it;
        # their velocity with the base's linear velocity left out is what that velocity must cancel
        config = self.robot.configuration(self.model, q, np.concatenate([np.zeros(3), pin.Quaternion(R).coeffs()]))
        pin.forwardKinematics(self.model, self.data, config, v)
        pin.updateFramePlacements(self.model, self.data)
        feet = [k for k in range(2) if stance[k]]
        if imu_acceleration is not None and dt > 0:
            self.velocity = self.velocity + dt * (R @ self.mount @ imu_acceleration - np.array([0.0, 0.0, GRAVITY]))
        placed = [self.data.oMf[f].translation for f in self.foot_frames]      # base at the origin
        held = [k for k in feet if self.anchors[k] is not None]
        if held:
            position = np.mean([np.append(self.anchors[k], ref_feet[k][2]) - placed[k] for k in held], axis=0)
        elif self.last is not None:
            position = self.last[1] + self.velocity * dt
        elif feet:
            position = np.mean([ref_feet[k] - placed[k] for k in feet], axis=0)
        else:
            position = np.asarray(ref_base, np.float64)[:3].copy()
        self.anchors = [(position + placed[k])[:2] if stance[k] and self.anchors[k] is None else
                        self.anchors[k] if stance[k] else None for k in range(2)]
        if feet:
            legs = -np.mean([pin.getFrameVelocity(self.model, self.data, self.foot_frames[k], WORLD).linear
                             for k in feet], axis=0)
            # the first sample has no past to weigh: it takes the legs' velocity as it is
            self.velocity = self._filter(self.velocity, legs, dt, self.options.velocity_time_constant) \
                if self.last is not None else legs
        self.last = (t, position, q)
        v[:3] = R.T @ self.velocity                 # Pinocchio: base linear velocity in base axes
        return np.concatenate([position, pin.Quaternion(R).coeffs()]), v
