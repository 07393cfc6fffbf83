"""Loaders for the datasets' real on-disk layouts; each is a `items.Source` yielding
`MotionItem`s with joints at skeleton.MOTION_FPS (20 fps).

HumanML3D (Guo et al. 2022)           FineDance (Li et al. 2023)          AIST++ (Li et al. 2021)
  new_joints/<id>.npy (T,22,3) 20fps    motion/<id>.npy (T,315) 30 fps      motions/<seq>.pkl 60 fps
  texts/<id>.txt caption#tokens#s#e     music_wav/<id>.wav                  wavs/<music id>.wav
  train.txt val.txt test.txt            label_json/<id>.json ("style2")     splits/crossmodal_{train,val,test}.txt
  (new_joint_vecs/ ignored: recomputed)                                      ignore_list.txt

The joints-dataset layout (the bootstrap corpus) is HumanML3D's plus optional `music/<id>.wav`
and `genres.txt` lines `<id> <genre>`. Its span captions stay with the whole clip (`spans`),
where HumanML3D's span captions become sub-clips, as its reference loader does.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.data.items import (
    SPLITS,
    Entry,
    ItemError,
    MotionItem,
    Source,
    check_finite_rows,
    check_item_joints,
    load_npy,
    read_id_list,
)
from dancemosaic_core.motion import fk
from dancemosaic_core.motion.skeleton import MOTION_FPS

# HumanML3D's loader (MoMask `Text2MotionDatasetEval`) drops clips of 200 frames or more.
HUMANML3D_MAX_FRAMES = 200

# FineDance@Genre, the split the FineDance paper reports and DanceMosaic uses ("the authors'
# original splits"): ids 001..211, test and ignore lists of `get_train_test_list` in FineDance's
# `dataset/FineDance_dataset.py` (repo li-ronghui/FineDance; same lists in LODGE's
# `dld/data/FineDance_dataset.py`). Ignored ids are left out of every split (the reference
# skips them also when they appear in the test list: 120). FineDance@Genre has no val list.
FINEDANCE_IDS = [f"{i:03d}" for i in range(1, 212)]
FINEDANCE_TEST = ["063", "132", "143", "036", "098", "198", "130", "012", "211", "193",
                  "179", "065", "137", "161", "092", "120", "037", "109", "204", "144"]
FINEDANCE_IGNORE = ["116", "117", "118", "119", "120", "121", "122", "123", "202"]
# Genre label = "style2" of label_json/<id>.json (LODGE `music2genre`); LODGE's `Genres_fd`
# gives aliases the same class: 16 genres, as the DanceMosaic paper counts.
FINEDANCE_GENRE_ALIASES = {"jazz": "Jazz", "Dai": "Tai", "Wei": "Uighur", "Miao": "Hmong"}

# AIST++ genre codes (first field of a sequence name) -> AIST Dance DB genre names.
AIST_GENRES = {"gBR": "Break", "gPO": "Pop", "gLO": "Lock", "gMH": "Middle Hip-hop",
               "gLH": "LA style Hip-hop", "gHO": "House", "gWA": "Waack", "gKR": "Krump",
               "gJS": "Street Jazz", "gJB": "Ballet Jazz"}


# --- HumanML3D-style text files -----------------------------------------------------------------
def parse_text_file(path: Path) -> list[tuple[str, float, float]]:
    """(caption, start s, end s) per usable line `caption#tokens#start#end`; 0#0 (or NaN, as in
    HumanML3D's loader) means the whole clip. Malformed lines and empty captions are dropped."""
    if not path.is_file():
        raise ItemError("missing text", f"text file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ItemError("unreadable", f"cannot read text file {path}: {exc}") from None
    out = []
    for line in lines:
        parts = line.strip().split("#")
        if len(parts) < 4 or not parts[0].strip():
            continue
        try:
            start, end = float(parts[2]), float(parts[3])
        except ValueError:
            continue
        start = 0.0 if math.isnan(start) else start
        end = 0.0 if math.isnan(end) else end
        out.append((parts[0].strip(), start, end))
    return out


def _template(template, kind: str) -> np.ndarray:
    """A joint template given by path (fk.load_joint_template) or as an array."""
    if isinstance(template, (str, Path)):
        return fk.load_joint_template(template, kind)
    return fk.check_template(template)


def _span_frames(start: float, end: float) -> tuple[int, int]:
    return int(start * MOTION_FPS), int(end * MOTION_FPS)


def _read_splits(root: Path, files: dict[str, Path], kind: str) -> dict[str, str]:
    """id -> split from the split files that exist; none at all is an error."""
    found = {split: path for split, path in files.items() if path.is_file()}
    if not found:
        names = ", ".join(str(p.relative_to(root)) for p in files.values())
        raise DanceMosaicError(f"{kind} directory {root} has no split files ({names}); "
                               "expected one id per line")
    splits = {}
    for split, path in found.items():
        for item_id in read_id_list(path):
            splits.setdefault(item_id, split)
    return splits


class HumanML3D(Source):
    kind = "humanml3d"

    def __init__(self, root, *, name=None, min_frames=None, max_frames=HUMANML3D_MAX_FRAMES):
        super().__init__(root, name=name, min_frames=min_frames,
                         max_frames=max_frames)

    def entries(self) -> list[Entry]:
        self.require_dir(self.root, "a dataset root with new_joints/, texts/ and train.txt/val.txt/test.txt")
        self.require_dir(self.root / "new_joints", "new_joints/<id>.npy (frames, 22, 3) at 20 fps")
        splits = _read_splits(self.root, {s: self.root / f"{s}.txt" for s in SPLITS}, self.kind)
        return [Entry(i, splits[i]) for i in sorted(splits)]

    def _joints(self, entry: Entry) -> np.ndarray:
        return check_item_joints(load_npy(self.root / "new_joints" / f"{entry.id}.npy", "joints"),
                                 f"{self.name}/{entry.id}")

    def load(self, entry: Entry) -> list[MotionItem]:
        joints = self._joints(entry)
        captions = parse_text_file(self.root / "texts" / f"{entry.id}.txt")
        whole = [c for c, s, e in captions if s == 0 and e == 0]
        by_span: dict[tuple[int, int], list[str]] = {}
        for c, s, e in captions:
            if not (s == 0 and e == 0):
                by_span.setdefault(_span_frames(s, e), []).append(c)
        items = []
        if whole:
            items.append(MotionItem(entry.id, joints, whole, [(0, len(joints))] * len(whole), split=entry.split))
        for (a, b), caps in sorted(by_span.items()):
            sub = joints[a:b]
            items.append(MotionItem(f"{entry.id}_{a}_{b}", sub, caps, [(0, len(sub))] * len(caps),
                                    split=entry.split))
        if not items:
            raise ItemError("missing text", f"texts/{entry.id}.txt has no usable caption line "
                                            "(caption#tokens#start#end)")
        return items


class JointsDataset(HumanML3D):
    """The bootstrap corpus layout: HumanML3D's plus music/<id>.wav and genres.txt."""
    kind = "joints"

    def __init__(self, root, *, name=None, min_frames=None, max_frames=None):
        super().__init__(root, name=name or Path(root).name, min_frames=min_frames, max_frames=max_frames)
        self._genres: dict[str, str] | None = None

    def genres(self) -> dict[str, str]:
        if self._genres is None:
            self._genres = {}
            path = self.root / "genres.txt"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    parts = line.strip().split(maxsplit=1)
                    if len(parts) == 2:
                        self._genres[parts[0]] = parts[1].strip()
        return self._genres

    def load(self, entry: Entry) -> list[MotionItem]:
        joints = self._joints(entry)
        genre = self.genres().get(entry.id, "")
        text_path = self.root / "texts" / f"{entry.id}.txt"
        captions = parse_text_file(text_path) if text_path.is_file() or not genre else []
        if not captions and not genre:
            raise ItemError("missing text", f"{text_path} has no caption and genres.txt names no genre")
        spans = []
        for _, s, e in captions:
            a, b = (0, len(joints)) if s == 0 and e == 0 else _span_frames(s, e)
            spans.append((max(0, a), min(len(joints), b)))
        music = self.root / "music" / f"{entry.id}.wav"
        return [MotionItem(entry.id, joints, [c for c, _, _ in captions], spans, genre,
                           music if music.is_file() else None, entry.split)]


# --- FineDance ----------------------------------------------------------------------------------
def finedance_split(item_id: str) -> str:
    """"train", "test" or "ignore" under FineDance@Genre."""
    if item_id in FINEDANCE_IGNORE:
        return "ignore"
    return "test" if item_id in FINEDANCE_TEST else "train"


class FineDance(Source):
    kind = "finedance"

    def __init__(self, root, template, *, name=None, min_frames=None):
        super().__init__(root, name=name, min_frames=min_frames)
        if template is None:
            raise DanceMosaicError("FineDance needs the SMPL-X joint template (--template PATH): the "
                                   "rest-pose joints (55, 3) such as FineDance's smplx_neu_J_1.npy")
        self.template = _template(template, "smplx")

    def entries(self) -> list[Entry]:
        self.require_dir(self.root, "FineDance's root with motion/, music_wav/ and label_json/")
        motion = self.require_dir(self.root / "motion", "motion/<id>.npy (frames, 315) at 30 fps")
        return [Entry(p.stem, finedance_split(p.stem)) for p in sorted(motion.glob("*.npy"))]

    def genre(self, item_id: str) -> str:
        path = self.root / "label_json" / f"{item_id}.json"
        try:
            style = json.loads(path.read_text(encoding="utf-8"))["style2"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ItemError("missing genre", f"{path}: no readable 'style2' genre label ({exc})") from None
        return FINEDANCE_GENRE_ALIASES.get(str(style), str(style))

    def load(self, entry: Entry) -> list[MotionItem]:
        if entry.split == "ignore":
            raise ItemError("official ignore list", f"{entry.id} is on FineDance's ignore list")
        motion = load_npy(self.root / "motion" / f"{entry.id}.npy", "FineDance motion")
        if motion.ndim != 2 or motion.shape[1] not in (fk.FINEDANCE_WIDTH, fk.FINEDANCE_FEA_WIDTH):
            raise ItemError("wrong shape", f"motion/{entry.id}.npy has shape {motion.shape}; expected "
                                           f"(frames, {fk.FINEDANCE_WIDTH})")
        check_finite_rows(motion, f"motion/{entry.id}.npy")
        music = self.root / "music_wav" / f"{entry.id}.wav"
        if not music.is_file():
            raise ItemError("missing music", f"{music} does not exist")
        genre = self.genre(entry.id)
        joints = fk.resample(fk.finedance_to_joints(motion, self.template), fk.FINEDANCE_FPS, MOTION_FPS)
        return [MotionItem(entry.id, joints, [], [], genre, music, entry.split)]


# --- AIST++ -------------------------------------------------------------------------------------
def aist_fields(seq: str) -> tuple[str, str]:
    """(genre name, music id) from a sequence name such as gBR_sBM_cAll_d04_mBR0_ch01."""
    parts = seq.split("_")
    if len(parts) < 6 or parts[0] not in AIST_GENRES or not parts[4].startswith("m"):
        raise ItemError("bad name", f"{seq} is not an AIST++ sequence name like gBR_sBM_cAll_d04_mBR0_ch01")
    return AIST_GENRES[parts[0]], parts[4]


class AISTPP(Source):
    kind = "aistpp"

    def __init__(self, root, template, *, name=None, min_frames=None):
        super().__init__(root, name=name, min_frames=min_frames)
        if template is None:
            raise DanceMosaicError("AIST++ needs the SMPL joint template (--aistpp-template PATH): the "
                                   "rest-pose joints (24, 3) of the SMPL (male) body")
        self.template = _template(template, "smpl")

    def entries(self) -> list[Entry]:
        self.require_dir(self.root, "AIST++'s root (aist_plusplus_final) with motions/, wavs/, splits/")
        motions = self.require_dir(self.root / "motions", "motions/<sequence>.pkl")
        splits = _read_splits(self.root, {s: self.root / "splits" / f"crossmodal_{s}.txt" for s in SPLITS},
                              self.kind)
        ignore_file = self.root / "ignore_list.txt"
        ignore = set(read_id_list(ignore_file)) if ignore_file.is_file() else set()
        # The crossmodal lists (as Bailando/EDGE use them) minus ignore_list.txt; sequences in
        # no crossmodal list are reported, not loaded.
        return [Entry(p.stem, "ignore" if p.stem in ignore else splits.get(p.stem, "none"))
                for p in sorted(motions.glob("*.pkl"))]

    def load(self, entry: Entry) -> list[MotionItem]:
        if entry.split == "ignore":
            raise ItemError("official ignore list", f"{entry.id} is in ignore_list.txt")
        if entry.split == "none":
            raise ItemError("not in a split", f"{entry.id} is in no splits/crossmodal_*.txt")
        genre, music_id = aist_fields(entry.id)
        motion = fk.load_aist_motion(self.root / "motions" / f"{entry.id}.pkl")
        for key in ("smpl_poses", "smpl_trans"):
            if key in motion:
                arr = np.asarray(motion[key])
                if arr.ndim >= 1 and len(arr) and np.issubdtype(arr.dtype, np.number):
                    check_finite_rows(arr, f"motions/{entry.id}.pkl {key}")
        music = self.root / "wavs" / f"{music_id}.wav"
        if not music.is_file():
            raise ItemError("missing music", f"{music} does not exist")
        try:
            joints = fk.aist_to_joints(motion, self.template, f"motions/{entry.id}.pkl")
        except DanceMosaicError as exc:
            raise ItemError("wrong shape", str(exc)) from None
        joints = fk.resample(joints, fk.AIST_FPS, MOTION_FPS)
        return [MotionItem(entry.id, joints, [], [], genre, music, entry.split)]
