"""Balance-aware retargeting: preview control anticipates and tracks a ZMP step, the ZMP reference
shifts the weight onto the stance foot before it lifts, and on a choreographed stepping dance the
balanced retarget has a larger ZMP margin than the unbalanced one for a small joint change."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.balance import BalanceReport, convex_hull, signed_distance, zmp_margin
from dancemosaic_core.retarget.com_plan import (PlanOptions, balanced_retarget, plan_com, preview_control, zmp_correction,
                                                zmp_reference)

FPS = 20.0


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_preview_control_moves_the_com_before_the_zmp_steps_and_then_tracks_it():
    dt, step = 0.01, 150
    reference = np.zeros((400, 2))
    reference[step:, 0] = 0.1
    com, zmp = preview_control(reference, np.zeros(2), dt, com_height=0.68)
    started = np.argmax(np.abs(com[:, 0]) > 1e-3)
    assert step - 160 <= started < step - 20           # anticipation, within the 1.6 s preview
    assert np.abs(zmp[step + 50:] - reference[step + 50:]).max() < 2e-3
    assert np.abs(zmp - reference).max() < 0.05
    assert com[-1, 0] == pytest.approx(0.1, abs=1e-3) and np.abs(com[:, 1]).max() < 1e-9


def square(centre_y):
    return convex_hull(np.array([[-0.05, centre_y - 0.04], [0.1, centre_y - 0.04], [0.1, centre_y + 0.04],
                                 [-0.05, centre_y + 0.04]]))


def test_reference_shifts_the_weight_onto_the_stance_foot_before_lift_off():
    # both feet (0-9), right foot only (10-19), both again (20-29); the static CoM stays centred
    T = 30
    left, right = square(0.1), square(-0.1)
    both = convex_hull(np.vstack([left, right]))
    contacts = np.ones((T, 2), bool)
    contacts[10:20, 0] = False
    polygons = [right if 10 <= t < 20 else both for t in range(T)]
    com = np.tile([0.02, 0.0, 0.68], (T, 1))
    report = BalanceReport(com=com, momentum_rate=np.zeros((T, 6)), zmp=com[:, :2], zmp_window=com[:, :2],
                           contacts=contacts, margin=np.zeros(T), margin_window=np.zeros(T), polygons=polygons)
    options = PlanOptions(margin=0.02, shift_time=0.3)
    ref = zmp_reference(report, FPS, options)
    assert all(signed_distance(ref[t], right) >= 0.02 - 1e-6 for t in range(10, 20))
    assert ref[0, 1] == pytest.approx(0.0) and ref[9, 1] < ref[8, 1] < ref[7, 1] < 0.0     # shifting beforehand
    assert ref[3, 1] == pytest.approx(0.0) and ref[4, 1] < 0.0    # 0.3 s = 6 frames of shift
    assert ref[29, 1] == pytest.approx(0.0) and ref[20, 1] < 0.0   # released after touch-down


def standing_report(T, com_x=0.02):
    """Both feet down on a wide polygon, static CoM at (com_x, 0)."""
    polygon = convex_hull(np.vstack([square(0.1), square(-0.1)]))
    com = np.tile([com_x, 0.0, 0.68], (T, 1))
    return BalanceReport(com=com, momentum_rate=np.zeros((T, 6)), zmp=com[:, :2], zmp_window=com[:, :2].copy(),
                         contacts=np.ones((T, 2), bool), margin=np.zeros(T), margin_window=np.zeros(T),
                         polygons=[polygon] * T)


def test_zmp_correction_adds_the_multibody_error_bounded_and_not_in_flight():
    T = 40
    plan = plan_com(standing_report(T), FPS)
    measured = standing_report(T)
    measured.zmp_window[:, 0] += 0.01                  # the multibody ZMP 1 cm ahead of the reference
    measured.zmp_window[30:, 1] += 0.3                 # and far off to the side at the end ...
    measured.contacts[35:] = False                     # ... partly in flight
    correction = zmp_correction(plan, measured, limit=0.05)
    assert np.allclose(correction[:30], [-0.01, 0.0])
    assert np.allclose(np.linalg.norm(correction[30:35], axis=1), 0.05)   # bounded
    assert np.allclose(correction[35:], 0.0)
    again = zmp_correction(plan_com(standing_report(T), FPS, correction=correction), measured, limit=0.05)
    assert np.allclose(again[:30], [-0.02, 0.0])       # passes accumulate


def test_plan_with_a_correction_moves_the_planned_zmp_by_it():
    T = 60
    correction = np.zeros((T, 2))
    correction[:, 0] = -0.01
    plan = plan_com(standing_report(T), FPS, correction=correction)
    plain = plan_com(standing_report(T), FPS)
    assert np.allclose(plan.zmp - plain.zmp, correction, atol=2e-4)
    assert np.allclose(plan.zmp_reference, plain.zmp_reference)      # the target itself stays
    assert plan.summary()["zmp_correction_max_m"] == pytest.approx(0.01)


def test_balanced_retarget_of_a_stepping_dance_widens_the_zmp_margin(g1, stepping_dance):
    retargeter = Retargeter(robot=g1)
    result, plan = balanced_retarget(retargeter, stepping_dance, FPS)
    before, after = plan.before.summary(), plan.after.summary()
    assert plan.before.contacts.sum(axis=1).min() == 1             # the dance does step
    assert after["zmp_margin_window_negative_fraction"] < 0.7 * before["zmp_margin_window_negative_fraction"]
    assert after["zmp_margin_window_mean_m"] > before["zmp_margin_window_mean_m"] + 0.02
    assert plan.joint_rms_change < 0.08
    assert np.abs(plan.after.com[:, :2] - plan.com).mean() < 0.02    # the IK follows the planned CoM
    assert result.success and "joint RMS change" in plan.table()
    after_direct = zmp_margin(g1, result.q, result.base, result.fps)
    assert np.allclose(after_direct.margin_window, plan.after.margin_window, equal_nan=True)


def test_a_dynamics_pass_brings_the_multibody_zmp_closer_to_the_reference(g1, stepping_dance):
    retargeter = Retargeter(robot=g1)
    _, once = balanced_retarget(retargeter, stepping_dance, FPS)
    _, twice = balanced_retarget(retargeter, stepping_dance, FPS, PlanOptions(dynamics_passes=1))

    def error(plan):
        supported = plan.after.contacts.any(axis=1)
        return np.linalg.norm(plan.after.zmp_window - plan.zmp_reference, axis=1)[supported].mean()
    assert error(twice) < 0.8 * error(once)
    assert twice.correction is not None and once.correction is None


def test_balance_needs_a_floating_base_and_a_plan_per_frame(g1, stepping_dance):
    with pytest.raises(DanceMosaicError, match="floating base"):
        balanced_retarget(Retargeter(robot=g1, floating_base=False), stepping_dance, FPS)
    with pytest.raises(DanceMosaicError, match="one xy point per frame"):
        Retargeter(robot=g1).retarget(stepping_dance, FPS, com=np.zeros((3, 2)))
