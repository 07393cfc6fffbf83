"""Torque feed-forward: the contact forces of the supporting feet carry the robot, the joint torques
are the inverse dynamics less those forces, and in MuJoCo they take the lag out of PD tracking."""
from types import SimpleNamespace

import numpy as np
import pinocchio as pin
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import GRAVITY
from dancemosaic_core.retarget.feedforward import CONTACT_SETS, FeedforwardOptions, contact_torques
from dancemosaic_core.sim import play
from dancemosaic_core.sim.playback import Playback


@pytest.fixture(scope="module")
def torques(g1, squat):
    return contact_torques(g1, squat.q, squat.base, squat.fps)


def standing(g1, frames=5):
    q = np.tile(g1.neutral_q, (frames, 1))
    base = np.tile([0.0, 0.0, g1.standing_height, 0, 0, 0, 1], (frames, 1))
    return q, base


def test_standing_on_both_feet_is_carried_and_matches_gravity(g1):
    q, base = standing(g1)
    ff = contact_torques(g1, q, base, 20.0)
    assert ff.contacts.all()
    mass = pin.computeTotalMass(g1.model(floating=True))
    assert ff.residual.max() < 1e-3 * mass * GRAVITY          # the floor carries the whole robot
    model = g1.model(floating=True)
    config = g1.configuration(model, q[0], base[0])
    gravity = pin.computeGeneralizedGravity(model, model.createData(), config)
    both = ff.torques[0, CONTACT_SETS.index((0, 1))]
    flight = ff.torques[0, CONTACT_SETS.index(())]
    assert np.allclose(flight, gravity[g1.joint_v_index(model)], atol=1e-6)   # no contact: gravity alone
    # with the feet carrying it, the stance legs hold the body up: their torques change, the arms' do not
    arms = [i for i, n in enumerate(g1.joint_names) if "shoulder" in n or "elbow" in n or "wrist" in n]
    assert np.allclose(both[arms], flight[arms], atol=1e-6)
    knees = [g1.joint_names.index(n) for n in ("left_knee_joint", "right_knee_joint")]
    assert np.all(np.abs(both[knees] - flight[knees]) > 5.0)
    # left-right symmetric pose: symmetric knee torques
    assert abs(both[knees[0]] - both[knees[1]]) < 0.05 * abs(both[knees[0]])


def test_one_foot_cannot_hold_a_body_centred_between_the_feet(g1):
    q, base = standing(g1)
    ff = contact_torques(g1, q, base, 20.0)
    mass = pin.computeTotalMass(g1.model(floating=True))
    flight = ff.torques[0, CONTACT_SETS.index(())]
    for s in ((0,), (1,)):
        # the centre of mass is ~10 cm beside one sole: the nearest wrench it gives leaves a moment
        one = ff.torques[0, CONTACT_SETS.index(s)]
        assert not np.allclose(one, flight)
    assert ff.residual.max() < 1e-3 * mass * GRAVITY           # the scheduled set (both) does carry it


def test_at_picks_the_contact_set_and_interpolates(torques):
    t = 7 / torques.fps
    assert np.allclose(torques.at(t, np.array([True, False])), torques.torques[7, 1])
    assert np.allclose(torques.at(t, np.array([False, True])), torques.torques[7, 2])
    scheduled = CONTACT_SETS.index(tuple(k for k in range(2) if torques.contacts[7, k]))
    assert np.allclose(torques.at(t), torques.torques[7, scheduled])
    assert np.allclose(torques.at(t, np.zeros(2, bool)), torques.at(t))
    half = torques.at(7.5 / torques.fps, np.array([True, True]))
    assert np.allclose(half, (torques.torques[7, 3] + torques.torques[8, 3]) / 2)
    assert np.allclose(torques.at(-1.0, np.ones(2, bool)), torques.torques[0, 3])


def test_scale_scales(g1, squat, torques):
    half = contact_torques(g1, squat.q[:6], squat.base[:6], squat.fps, FeedforwardOptions(scale=0.5))
    assert np.allclose(half.at(0.1, np.ones(2, bool)), 0.5 * torques.at(0.1, np.ones(2, bool)), atol=1e-6)


def test_a_planted_squat_is_carried_by_both_feet(g1, squat, torques):
    mass = pin.computeTotalMass(g1.model(floating=True))
    assert torques.contacts.all(axis=1).mean() > 0.9
    assert np.median(torques.residual) < 0.01 * mass * GRAVITY


def leg_tracking_error(g1, trajectory, feedforward):
    run = Playback(trajectory, g1, feedforward=feedforward)
    for _ in run.frames():
        pass
    assert not run.report().fell
    legs = [i for i, n in enumerate(g1.joint_names) if any(k in n for k in ("hip", "knee", "ankle"))]
    return np.abs(np.asarray(run.log["q"])[:, legs] - trajectory.q[:, legs]).mean()


def test_feedforward_takes_the_lag_out_of_pd_tracking(g1, squat):
    plain = leg_tracking_error(g1, squat, None)
    fed = leg_tracking_error(g1, squat, FeedforwardOptions())
    assert fed < 0.9 * plain                     # measured 0.0079 against 0.0092 rad (mean of the legs)
    assert leg_tracking_error(g1, squat, FeedforwardOptions(scale=-1.0)) > 1.5 * plain   # a wrong sign: 0.016


def test_bad_input_is_refused_with_the_fix(g1, squat):
    with pytest.raises(DanceMosaicError, match="fixed-base"):
        contact_torques(g1, squat.q, None, squat.fps)
    with pytest.raises(DanceMosaicError, match="T >= 2"):
        contact_torques(g1, squat.q[:1], squat.base[:1], squat.fps)
    bad = squat.q.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DanceMosaicError, match="finite"):
        contact_torques(g1, bad, squat.base, squat.fps)
    fixed = SimpleNamespace(q=squat.q, base=None, fps=squat.fps)
    with pytest.raises(DanceMosaicError, match="feed-forward"):
        play(fixed, g1, feedforward=FeedforwardOptions())
