"""The reference feature and metric code, ported as plain loops from the public files, against
the vectorised implementation. Sources (read at their repositories' HEAD):
google/aistplusplus_api aist_plusplus/features/{kinetic,utils}.py (= lisiyao21/Bailando
utils/features/{kinetic,utils}.py = li-ronghui/LODGE metric/features/{kinetic,utils}.py),
Bailando utils/features/manual_new.py, Bailando utils/metrics_new.py (= LODGE
metric/metrics_finedance.py: normalize, calc_fid, calculate_avg_distance, calc_and_save_feats)."""
import numpy as np
import pytest
from scipy import linalg

from dancemosaic_core.eval import diversity, fid, geometric_features, get_protocol, kinetic_features, motion_features
from dancemosaic_core.eval.distribution import near_constant_dims
from dancemosaic_core.eval.geometric import _ALIASES, BODY_SCALE, FEATURES
from dancemosaic_core.motion.skeleton import JOINT_INDEX, NUM_JOINTS, rest_pose


# --- loop ports of aist_plusplus/features/utils.py and kinetic.py -------------------------
def ref_average_velocity_sum(positions, i, joint, window):
    count, v = 0, np.zeros(3)
    for j in range(-window, window + 1):
        if i + j - 1 < 0 or i + j >= len(positions):
            continue
        v += positions[i + j][joint] - positions[i + j - 1][joint]
        count += 1
    return v, count


def ref_velocity_horizontal(positions, i, joint, window, frame_time):   # up_vec="y"
    v, count = ref_average_velocity_sum(positions, i, joint, window)
    return np.linalg.norm(np.array([v[0], v[2]]) / (count * frame_time))


def ref_velocity_vertical(positions, i, joint, window, frame_time):
    v, count = ref_average_velocity_sum(positions, i, joint, window)
    return np.linalg.norm(np.array([v[1]]) / (count * frame_time))


def ref_average_acceleration(positions, i, joint, window, frame_time, quirk=True):
    count, a = 0, np.zeros(3)
    for j in range(-window, window + 1):
        if i + j - 1 < 0 or i + j + 1 >= len(positions):
            continue
        v2 = (positions[i + j + 1][joint] - positions[i + j][joint]) / frame_time
        if quirk:   # as published: only the previous position is divided by the frame time
            v1 = (positions[i + j][joint] - positions[i + j - 1][joint] / frame_time)
        else:
            v1 = (positions[i + j][joint] - positions[i + j - 1][joint]) / frame_time
        a += (v2 - v1) / frame_time
        count += 1
    return np.linalg.norm(a / count)


def ref_kinetic_features(positions, frame_time=1. / 60, window=2, quirk=True):
    """extract_kinetic_features before its float32 cast."""
    out = []
    t = len(positions)
    for joint in range(positions.shape[1]):
        h = sum(ref_velocity_horizontal(positions, i, joint, window, frame_time) ** 2 for i in range(1, t))
        v = sum(ref_velocity_vertical(positions, i, joint, window, frame_time) ** 2 for i in range(1, t))
        e = sum(ref_average_acceleration(positions, i, joint, window, frame_time, quirk) for i in range(1, t))
        out += [h / (t - 1.0), v / (t - 1.0), e / (t - 1.0)]
    return np.array(out)


# --- loop port of manual_new.py with the fairmotion helpers --------------------------------
def ref_manual_features(positions, time_per_frame=1 / 120):
    def fetch(frame, name):
        specials = {"y_unit": [0, 1, 0], "minus_y_unit": [0, -1, 0], "zero": [0, 0, 0]}
        if name in specials:
            return np.array(specials[name], dtype=float)
        if name == "y_min":
            return np.array([0, min(y for (_, y, _) in positions[frame]), 0])
        return positions[frame][JOINT_INDEX[_ALIASES[name]]]

    rows = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for frame in range(1, len(positions)):
            row = []
            for kind, names, thr in FEATURES:
                c = [fetch(frame, n) for n in names]
                prev = [positions[frame - 1][JOINT_INDEX[_ALIASES[n]]] if n in _ALIASES else None
                        for n in names]
                threshold = None if kind == "angle" else BODY_SCALE[thr[0]] * thr[1]
                if kind == "plane":        # distance_from_plane(a, b, c, p)
                    cross = np.cross(c[2] - c[0], c[1] - c[0])
                    row.append(np.dot(cross, c[3] - c[0]) / np.linalg.norm(cross) > threshold)
                elif kind == "nplane":     # distance_from_plane_normal(n1, n2, a, p)
                    normal = c[1] - c[0]
                    row.append(np.dot(normal, c[3] - c[2]) / np.linalg.norm(normal) > threshold)
                elif kind == "angle":      # angle_within_range(j1, j2, k1, k2, range)
                    j, k = c[1] - c[0], c[3] - c[2]
                    angle = np.degrees(np.arccos(np.dot(j, k) / (np.linalg.norm(j) * np.linalg.norm(k))))
                    row.append(bool(angle > thr[0] and angle < thr[1]))
                elif kind == "fast":       # velocity_above_threshold(p, p_prev)
                    row.append(np.linalg.norm(c[0] - prev[0]) / time_per_frame > threshold)
                elif kind == "move":       # velocity_direction_above_threshold(j1, .., j2, .., p=j3)
                    velocity = c[2] - c[0] - (prev[2] - prev[0])
                    direction = c[1] - c[0]
                    row.append(np.dot(velocity, direction) / np.linalg.norm(direction) / time_per_frame > threshold)
                else:                      # velocity_direction_above_threshold_normal(j1, .., j2, j3, p=j4)
                    velocity = c[3] - c[0] - (prev[3] - prev[0])
                    direction = np.cross(c[2] - c[0], c[1] - c[0])
                    row.append(np.dot(velocity, direction) / np.linalg.norm(direction) / time_per_frame > threshold)
            rows.append(row)
    return np.array(rows, dtype=np.float32).mean(axis=0)


# --- loop ports of metrics_new.py ----------------------------------------------------------
def ref_normalize(feat, feat2):
    mean, std = feat.mean(axis=0), feat.std(axis=0)
    return (feat - mean) / (std + 1e-10), (feat2 - mean) / (std + 1e-10)


def ref_calc_fid(kps_gen, kps_gt):
    mu1, mu2 = np.mean(kps_gen, axis=0), np.mean(kps_gt, axis=0)
    sigma1, sigma2 = np.cov(kps_gen, rowvar=False), np.cov(kps_gt, rowvar=False)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-5
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    return np.real(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def ref_avg_distance(features):
    n, dist = len(features), 0
    for i in range(n):
        for j in range(i + 1, n):
            dist += np.linalg.norm(features[i] - features[j])
    return dist / ((n * n - n) / 2)


def ref_motion_features(joints, crop, per_frame_root):
    """calc_and_save_feats: crop, first-frame root subtracted, (LODGE) joints 1.. root-relative."""
    p = joints[:crop] - joints[:1, :1]
    if per_frame_root:
        p = p.copy()
        p[:, 1:] -= p[:, :1]
    return (np.array(ref_kinetic_features(p), dtype=np.float32),
            ref_manual_features(p))


def random_motion(frames, seed):
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(scale=0.02, size=(frames, NUM_JOINTS, 3)), axis=0)
    return rest_pose()[None] + walk + rng.normal(scale=0.3, size=3)


# --- tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("energy", ["reference", "physical"])
def test_kinetic_features_equal_the_loop_port(seed, energy):
    joints = random_motion(23 + 7 * seed, seed)
    ref = ref_kinetic_features(joints, quirk=energy == "reference")
    np.testing.assert_allclose(kinetic_features(joints, energy=energy), ref, rtol=1e-9, atol=1e-9)


def test_kinetic_features_of_very_short_motions_equal_the_loop_port():
    for frames in (3, 4, 5):
        joints = random_motion(frames, frames)
        np.testing.assert_allclose(kinetic_features(joints), ref_kinetic_features(joints), rtol=1e-9)


def test_reference_expenditure_of_a_still_body_grows_with_its_position():
    """The quirk: a still joint at p has a = -(1 - 1/dt) p / dt, so |a| = (60 - 1) * 60 |p|."""
    joints = np.repeat(rest_pose()[None], 10, axis=0)
    feats = kinetic_features(joints).reshape(NUM_JOINTS, 3)
    np.testing.assert_allclose(feats[:, 2], 59 * 60 * np.linalg.norm(rest_pose(), axis=-1), rtol=1e-12)
    np.testing.assert_allclose(kinetic_features(joints, energy="physical").reshape(NUM_JOINTS, 3)[:, 2], 0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_geometric_features_equal_the_loop_port(seed):
    joints = random_motion(30, 10 + seed)
    np.testing.assert_allclose(geometric_features(joints).astype(np.float32), ref_manual_features(joints),
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fid_and_diversity_equal_the_reference_functions(dtype):
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(12, 5)).astype(dtype) * [1, 2, 3, 0.5, 1e-3]
    gen = (rng.normal(size=(9, 5)) + 0.3).astype(dtype)
    gt_n, gen_n = ref_normalize(gt, gen)
    np.testing.assert_allclose(fid(gen, gt), ref_calc_fid(gen_n, gt_n), rtol=1e-9)
    np.testing.assert_allclose(diversity(gen, gt), ref_avg_distance(gen_n), rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
@pytest.mark.parametrize("name,crop,per_frame_root", [("aistpp", 1200, False), ("finedance", 1024, True)])
def test_protocol_set_metrics_equal_the_reference_pipeline(name, crop, per_frame_root):
    """Small deterministic sets at the protocol rate: FID_k, FID_g, Div_k, Div_g as the
    reference computes them from its saved float32 features, to 1e-5."""
    protocol = get_protocol(name)
    gt = [random_motion(40 + 3 * i, 100 + i) for i in range(6)]
    gen = [random_motion(45 + 2 * i, 200 + i) * 1.1 for i in range(5)]
    ours = [[motion_features(m, protocol) for m in s] for s in (gt, gen)]
    ref = [[ref_motion_features(m, crop, per_frame_root) for m in s] for s in (gt, gen)]
    for k in (0, 1):    # kinetic, geometric
        gt_f, gen_f = np.stack([f[k] for f in ours[0]]), np.stack([f[k] for f in ours[1]])
        rgt, rgen = np.stack([f[k] for f in ref[0]]), np.stack([f[k] for f in ref[1]])
        assert gt_f.dtype == np.float32
        rgt_n, rgen_n = ref_normalize(rgt, rgen)
        np.testing.assert_allclose(fid(gen_f, gt_f), ref_calc_fid(rgen_n, rgt_n), rtol=1e-5)
        np.testing.assert_allclose(diversity(gen_f, gt_f), ref_avg_distance(rgen_n), rtol=1e-5)


def test_physical_variant_differs_and_is_marked_not_comparable():
    ref, phys = get_protocol("aistpp"), get_protocol("aistpp_physical")
    assert ref.comparable and not phys.comparable and phys.kinetic_energy == "physical"
    joints = random_motion(50, 7)
    assert not np.allclose(motion_features(joints, ref)[0], motion_features(joints, phys)[0])
    np.testing.assert_allclose(motion_features(joints, ref)[1], motion_features(joints, phys)[1], rtol=1e-6)


def test_near_constant_dims_are_found_and_explain_a_huge_fid():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(10, 4))
    gt[:, 2] = 0.0                      # a feature the ground truth never shows
    gen = rng.normal(size=(8, 4))
    assert near_constant_dims(gt).tolist() == [2]
    assert fid(gen, gt) > 1e17
    assert fid(gen, gt, dims=[0, 1, 3]) < 100
