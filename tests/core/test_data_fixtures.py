"""Tiny dataset directories in exactly the real on-disk formats (HumanML3D, FineDance, AIST++,
joints datasets), shared by the test_data_* files; plus checks that the writers produce what
the formats say."""
import json
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf

from dancemosaic_core.motion import fk
from dancemosaic_core.motion.rotations import axis_angle_to_matrix, matrix_to_rot6d
from dancemosaic_core.motion.skeleton import MOTION_FPS, NUM_JOINTS, rest_pose

SR = 22050


def dance_joints(frames: int, fps: float = MOTION_FPS, seed: int = 0) -> np.ndarray:
    """(T, 22, 3) y-up metres: a standing body that walks forward, sways and waves its hands."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    joints = rest_pose()[None].repeat(frames, 0) + np.array([0.0, 0.95, 0.0])
    joints[:, :, 0] += 0.2 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 3))[:, None]
    joints[:, :, 2] += 0.3 * t[:, None]
    joints[:, 20:22, 1] += 0.15 * np.sin(2 * np.pi * t)[:, None]
    return joints.astype(np.float32)


def write_wav(path: Path, seconds: float, kind: str = "beats", sr: int = SR, bpm: float = 120.0) -> Path:
    """Clicks on a beat grid over a quiet tone ("beats"), all zeros ("silent")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * sr)
    wave = np.zeros(n, np.float32)
    if kind == "beats":
        t = np.arange(n) / sr
        wave += 0.05 * np.sin(2 * np.pi * 220 * t)
        for b in np.arange(0, seconds, 60 / bpm):
            i = int(b * sr)
            m = min(n - i, sr // 50)
            wave[i:i + m] += 0.8 * np.exp(-np.arange(m) / (sr / 400)) * np.sin(2 * np.pi * 1000 * np.arange(m) / sr)
    sf.write(path, wave, sr)
    return path


def text_lines(*lines) -> str:
    """HumanML3D text lines from (caption, start, end) tuples."""
    return "".join(f"{c}#{' '.join(w + '/X' for w in c.split())}#{s}#{e}\n" for c, s, e in lines)


def write_humanml3d(root: Path, clips: dict, splits: dict) -> Path:
    """clips: id -> (joints array or raw bytes, text file content or None)."""
    (root / "new_joints").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    (root / "new_joint_vecs").mkdir(exist_ok=True)
    for cid, (joints, text) in clips.items():
        if isinstance(joints, bytes):
            (root / "new_joints" / f"{cid}.npy").write_bytes(joints)
        else:
            np.save(root / "new_joints" / f"{cid}.npy", joints)
            np.save(root / "new_joint_vecs" / f"{cid}.npy", np.zeros((1, 263), np.float32))
        if text is not None:
            (root / "texts" / f"{cid}.txt").write_text(text)
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def write_joints_dataset(root: Path, clips: dict, splits: dict, genres: dict, music: dict) -> Path:
    write_humanml3d(root, clips, splits)
    (root / "genres.txt").write_text("".join(f"{i} {g}\n" for i, g in genres.items()))
    for cid, (seconds, kind) in music.items():
        write_wav(root / "music" / f"{cid}.wav", seconds, kind)
    return root


def smplx_template() -> np.ndarray:
    body = rest_pose() + np.array([0.003, -0.35, 0.012])
    extra = body[20] + 0.01 * np.arange(1, 55 - NUM_JOINTS + 1)[:, None]
    return np.concatenate([body, extra])


def smpl_template() -> np.ndarray:
    body = rest_pose() + np.array([0.002, -0.22, 0.03])
    return np.concatenate([body, body[20:22] + np.array([0.08, 0.0, 0.0])])


def finedance_motion(frames: int, seed: int = 0) -> np.ndarray:
    """(T, 315) at 30 fps: translation + 52 x 6-D rotations (first two rows of each matrix)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fk.FINEDANCE_FPS
    aa = np.zeros((frames, fk.FINEDANCE_JOINTS, 3))
    aa[:, 1:NUM_JOINTS] = 0.2 * np.sin(2 * np.pi * t[:, None, None] + rng.uniform(0, 6, (1, NUM_JOINTS - 1, 3)))
    rot6d = matrix_to_rot6d(axis_angle_to_matrix(aa), layout="rows").reshape(frames, -1)
    trans = np.stack([0.1 * np.sin(t), 0.9 + 0.02 * np.sin(4 * t), 0.3 * t], axis=1)
    return np.concatenate([trans, rot6d], axis=1).astype(np.float32)


def write_finedance(root: Path, ids: dict, template_path: Path | None = None) -> Path:
    """ids: id -> (frames at 30 fps or a raw array, genre or None, music seconds or None)."""
    for sub in ("motion", "music_wav", "label_json"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, (motion, genre, seconds) in ids.items():
        arr = finedance_motion(motion, seed=int(i)) if isinstance(motion, int) else motion
        np.save(root / "motion" / f"{i}.npy", arr)
        if genre is not None:
            (root / "label_json" / f"{i}.json").write_text(json.dumps({"style1": "Modern", "style2": genre}))
        if seconds is not None:
            write_wav(root / "music_wav" / f"{i}.wav", seconds)
    if template_path is not None:
        np.save(template_path, smplx_template())
    return root


def aist_motion(frames: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fk.AIST_FPS
    poses = np.zeros((frames, 24, 3))
    poses[:, 1:NUM_JOINTS] = 0.2 * np.sin(2 * np.pi * t[:, None, None] + rng.uniform(0, 6, (1, NUM_JOINTS - 1, 3)))
    scaling = 95.0
    trans = np.stack([10 * np.sin(t), 90 + np.zeros_like(t), 30 * t], axis=1) * scaling / 100
    return {"smpl_loss": np.float64(1.0), "smpl_poses": poses.reshape(frames, 72),
            "smpl_scaling": np.array([scaling]), "smpl_trans": trans}


def write_aistpp(root: Path, seqs: dict, splits: dict, ignore: list, music_ids: dict) -> Path:
    """seqs: name -> frames at 60 fps, a dict, or raw bytes; music_ids: id -> seconds."""
    for sub in ("motions", "wavs", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k, (name, motion) in enumerate(seqs.items()):
        path = root / "motions" / f"{name}.pkl"
        if isinstance(motion, bytes):
            path.write_bytes(motion)
        else:
            with open(path, "wb") as fh:
                pickle.dump(aist_motion(motion, k) if isinstance(motion, int) else motion, fh)
    for split, names in splits.items():
        (root / "splits" / f"crossmodal_{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (root / "ignore_list.txt").write_text("".join(f"{n}\n" for n in ignore))
    for mid, seconds in music_ids.items():
        write_wav(root / "wavs" / f"{mid}.wav", seconds)
    return root


# --- the writers produce the formats ----------------------------------------------------------------
def test_fixture_formats_match_the_datasets(tmp_path):
    fd = write_finedance(tmp_path / "fd", {"001": (31, "Popping", 1.0)}, tmp_path / "smplx.npy")
    assert np.load(fd / "motion" / "001.npy").shape == (31, fk.FINEDANCE_WIDTH)
    assert json.loads((fd / "label_json" / "001.json").read_text())["style2"] == "Popping"
    assert fk.load_joint_template(tmp_path / "smplx.npy", "smplx").shape == (55, 3)
    aist = write_aistpp(tmp_path / "aist", {"gBR_sBM_cAll_d04_mBR0_ch01": 61}, {"train": []}, [], {})
    motion = fk.load_aist_motion(aist / "motions" / "gBR_sBM_cAll_d04_mBR0_ch01.pkl")
    assert motion["smpl_poses"].shape == (61, 72) and motion["smpl_trans"].shape == (61, 3)
    assert motion["smpl_scaling"].shape == (1,)
    wave, sr = sf.read(write_wav(tmp_path / "a.wav", 0.5))
    assert sr == SR and len(wave) == SR // 2 and np.abs(wave).max() > 0.5
    line = text_lines(("a man walks", 0.0, 0.0)).strip().split("#")
    assert len(line) == 4 and line[0] == "a man walks" and line[1] == "a/X man/X walks/X"
