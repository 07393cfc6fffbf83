"""MuJoCo playback: the G1 stands on its neutral pose, the fixed-base display cannot fall,
reports are consistent, frames render offscreen, and the retarget -> sim CLI works end to end."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from dancemosaic_core.cli import main
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import Motion, save_motion
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.io import load_trajectory, save_trajectory
from dancemosaic_core.retarget.feedforward import FeedforwardOptions
from dancemosaic_core.retarget.synthetic import groove, planted_squat
from dancemosaic_core.sim import build_sim_model, play


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def standing(robot, seconds: float, fps: float = 20.0):
    return SimpleNamespace(q=np.repeat(robot.neutral_q[None], int(seconds * fps), 0), base=None, fps=fps)


def test_model_has_the_robots_joints_and_actuators(g1):
    sim = build_sim_model(g1, fixed_base=False)
    assert sim.model.nu == g1.num_joints and sim.model.nq == g1.num_joints + 7
    # the control range is the limits widened by effort / kp (a torque feed-forward as a target shift)
    kp = sim.model.actuator_gainprm[sim.actuators, 0]
    reach = g1.effort / kp
    assert np.allclose(sim.model.actuator_ctrlrange[sim.actuators], np.stack([g1.lower - reach, g1.upper + reach], -1))
    assert build_sim_model(g1, fixed_base=True).model.nq == g1.num_joints


def test_neutral_pose_stands_for_five_seconds(g1):
    report = play(standing(g1, 5.0), g1)
    assert not report.fell and report.seconds >= 4.9
    assert report.pelvis_height.min() > 0.95 * g1.standing_height
    assert report.foot_contact_fraction == 1.0 and report.foot_slip < 0.01
    assert report.tracking_error < 0.03 and report.limit_hits == 0
    assert report.real_time_factor > 1.0


def test_fixed_base_display_follows_the_base_path_and_cannot_fall(g1):
    result = Retargeter(robot=g1).retarget(planted_squat(1.5))
    report = play(result, g1, fixed_base=True)
    assert not report.fell
    assert np.allclose(report.pelvis_height, result.base[:, 2], atol=1e-6)     # kinematic pelvis
    assert report.tracking_error < 0.1


def test_a_robot_on_its_back_counts_as_fallen(g1):
    lying = standing(g1, 1.0)
    lying.base = np.tile([0, 0, 0.2, 0, np.sin(np.pi / 4), 0, np.cos(np.pi / 4)], (len(lying.q), 1))
    report = play(lying, g1)
    assert report.fell and report.fall_time == 0.0
    assert "fell" in report.table() and "yes" in report.table()


def test_wrong_trajectories_raise_clear_errors(g1):
    with pytest.raises(DanceMosaicError, match=r"expected \(frames, 29\)"):
        play(SimpleNamespace(q=np.zeros((3, 30)), base=None, fps=20.0), g1)
    bad = standing(g1, 0.2)
    bad.q[1, 3] = np.nan
    with pytest.raises(DanceMosaicError, match="NaN"):
        play(bad, g1)


def test_offscreen_frames(g1):
    try:
        report = play(standing(g1, 0.15), g1, render_size=(64, 48))
    except Exception as exc:      # no EGL/OSMesa on this machine: the code path cannot run
        pytest.skip(f"MuJoCo offscreen rendering unavailable here ({type(exc).__name__}: {exc})")
    assert report.frames.shape == (3, 48, 64, 3) and report.frames.dtype == np.uint8
    assert report.frames.std() > 5                          # a robot and a floor, not a blank image


def test_trajectory_file_round_trip(tmp_path, g1):
    result = Retargeter(robot=g1).retarget(groove(0.5))
    loaded = load_trajectory(save_trajectory(tmp_path / "g1.npz", result, motion="dance.npz"))
    assert np.allclose(loaded.q, result.q) and np.allclose(loaded.base, result.base)
    assert loaded.joint_names == g1.joint_names and loaded.fps == 20.0 and loaded.motion == "dance.npz"
    with pytest.raises(DanceMosaicError, match="does not exist"):
        load_trajectory(tmp_path / "missing.npz")


def test_cli_retarget_then_sim(tmp_path, capsys):
    dance = save_motion(tmp_path / "dance.npz", Motion(joints=groove(1.0, energy=0.5)))
    out = tmp_path / "g1.npz"
    assert main(["retarget", str(dance), "--robot", "g1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "residual" in printed and "frames/s" in printed and out.is_file()
    assert "ZMP margin (0.25 s)" in printed
    assert main(["sim", str(out), "--fixed-base", "--json", str(tmp_path / "sim.json")]) == 0
    printed = capsys.readouterr().out
    assert "fell" in printed and "tracking error" in printed and (tmp_path / "sim.json").is_file()
    assert "reference ZMP margin" in printed
    assert "zmp_margin_window_min_m" in json.loads((tmp_path / "sim.json").read_text())["reference_balance"]
    assert main(["sim", str(out), "--robot", "talos"]) == 2          # joints of another robot
    assert "retarget again" in capsys.readouterr().err


def test_cli_defaults_balance_the_retarget_and_stabilize_the_free_standing_robot(tmp_path, capsys):
    dance = save_motion(tmp_path / "dance.npz", Motion(joints=planted_squat(1.0)))
    out = tmp_path / "g1.npz"
    assert main(["retarget", str(dance), "--out", str(out)]) == 0
    assert "joint RMS change" in capsys.readouterr().out                  # balance-aware by default
    assert main(["retarget", str(dance), "--no-balance", "--out", str(tmp_path / "plain.npz")]) == 0
    assert "joint RMS change" not in capsys.readouterr().out
    assert main(["sim", str(out), "--json", str(tmp_path / "sim.json")]) == 0
    assert "free-standing, stabilized, torque feed-forward: stayed up for all 0.95 s" in capsys.readouterr().out
    summary = json.loads((tmp_path / "sim.json").read_text())
    assert summary["stabilized"] is True and summary["feedforward_scale"] == 1.0
    assert main(["sim", str(out), "--no-stabilize", "--no-feedforward"]) == 0
    assert "free-standing, open loop: stayed up" in capsys.readouterr().out
    assert main(["sim", str(out), "--feedforward-scale", "nan"]) == 2
    assert "--feedforward-scale" in capsys.readouterr().err
    assert main(["sim", str(out), "--weld-pelvis"]) == 0
    assert "welded pelvis (display; cannot fall): stayed up" in capsys.readouterr().out


def test_stabilizer_survives_a_push_that_topples_the_open_loop_robot(g1):
    push = (0.5, 0.2, [-40.0, 0.0, 0.0])          # 40 N x 0.2 s backward at 0.5 s
    open_loop = play(standing_with_base(g1, 2.5), g1, push=push)
    stabilized = play(standing_with_base(g1, 2.5), g1, push=push, stabilize=True)
    assert open_loop.fell and not stabilized.fell
    assert stabilized.pelvis_height.min() > 0.95 * g1.standing_height


def test_feedforward_with_the_stabilizer_survives_the_push(g1):
    push = (0.5, 0.2, [-40.0, 0.0, 0.0])
    report = play(standing_with_base(g1, 2.5), g1, push=push, stabilize=True, feedforward=FeedforwardOptions())
    assert not report.fell and report.pelvis_height.min() > 0.95 * g1.standing_height


def test_stabilizer_leaves_a_standing_robot_standing_and_needs_a_base(g1):
    report = play(standing_with_base(g1, 1.0), g1, stabilize=True)
    assert not report.fell and report.tracking_error < 0.03 and report.limit_hits == 0
    with pytest.raises(DanceMosaicError, match="floating-base trajectory"):
        play(standing(g1, 1.0), g1, stabilize=True)


def standing_with_base(robot, seconds: float):
    trajectory = standing(robot, seconds)
    trajectory.base = np.tile([0, 0, robot.standing_height, 0, 0, 0, 1.0], (len(trajectory.q), 1))
    return trajectory


def test_stabilizer_corrects_tilt_not_position(g1):
    from dancemosaic_core.retarget.stabilizer import Stabilizer
    stabilizer = Stabilizer(g1, standing_with_base(g1, 1.0))
    nv = stabilizer.model.nv
    shifted = np.array([0.05, -0.03, g1.standing_height, 0, 0, 0, 1.0])     # the whole robot moved
    assert np.allclose(stabilizer.correction(0.2, g1.neutral_q, shifted, np.zeros(nv)), 0, atol=1e-9)
    s = np.sin(0.05 / 2)
    pitched = np.array([0.0, 0.0, g1.standing_height, 0, s, 0, np.cos(0.05 / 2)])   # leaning forward
    offsets = stabilizer.correction(0.2, g1.neutral_q, pitched, np.zeros(nv))
    ankles = [i for i, n in enumerate(g1.joint_names) if "ankle_pitch" in n]
    hips = [i for i, n in enumerate(g1.joint_names) if "hip_pitch" in n]
    assert np.abs(offsets).max() > 0.01 and np.all(offsets[ankles] != 0)
    assert np.all(np.sign(offsets[hips]) == np.sign(offsets[hips[0]]))      # both legs act alike


def test_stabilizer_on_the_estimated_state_keeps_a_standing_robot_up_and_the_estimate_close(g1):
    # the finite-differenced leg odometry read the stabilizer's own joint motion back as base
    # velocity: this robot fell at 1.2 s with 0.3 m of position and 1 m/s of velocity error
    report = play(standing_with_base(g1, 2.0), g1, stabilize=True, estimated_state=True)
    assert not report.fell and report.limit_hits == 0
    error = report.estimate_error
    assert error["tilt_rad_max"] < 0.01 and error["position_m_max"] < 0.01 and error["velocity_m_per_s_max"] < 0.02
    pushed = play(standing_with_base(g1, 2.5), g1, push=(0.5, 0.2, [-40.0, 0.0, 0.0]), stabilize=True,
                  estimated_state=True)
    assert not pushed.fell and pushed.pelvis_height.min() > 0.95 * g1.standing_height
    assert pushed.estimate_error["velocity_m_per_s_max"] < 0.05 and pushed.estimate_error["position_m_max"] < 0.02
    assert "estimate_error" in report.summary()
    assert play(standing_with_base(g1, 0.2), g1, stabilize=True).estimate_error is None
    with pytest.raises(DanceMosaicError, match="needs stabilize"):
        play(standing_with_base(g1, 0.2), g1, estimated_state=True)
