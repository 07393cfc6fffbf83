"""The one item abstraction every dataset loader yields, and the skip report.

A loader (`loaders.py`) is a `Source`: `entries()` lists (id, split) cheaply from the directory
(and raises DanceMosaicError when the directory is not the dataset it should be); `load(entry)`
reads one entry into zero or more `MotionItem`s, raising `ItemError` for a corrupt or
mismatched entry. `iter_items(source, report)` runs both, validates every item (shape,
finite frames, length) and turns every failure into a counted, named skip in the `SkipReport`:
a bad file never stops a run.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.skeleton import MOTION_FPS, NUM_JOINTS

log = logging.getLogger("dancemosaic.data")

SPLITS = ("train", "val", "test")
# HumanML3D's loaders drop motions shorter than min_motion_len = 40 frames (2 s at 20 fps).
MIN_CLIP_FRAMES = 40


@dataclass
class MotionItem:
    """One clip: joints at skeleton.MOTION_FPS, y-up metres, and what goes with it.

    `spans[i]` is the joint-frame range [start, end) that `texts[i]` describes; (0, T) for a
    caption of the whole clip. `music` is the audio file whose t = 0 is joint frame 0."""
    id: str
    joints: np.ndarray                       # (T, 22, 3) float32
    texts: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    genre: str = ""
    music: Path | None = None
    split: str = "train"
    source: str = ""

    @property
    def frames(self) -> int:
        return len(self.joints)


@dataclass(frozen=True)
class Entry:
    id: str
    split: str


class ItemError(DanceMosaicError):
    """A corrupt or mismatched dataset entry; `reason` is the short category counted in the
    summary ("nan frames", "wrong shape", ...), the message says which file and what is wrong."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SkipReport:
    """Counted, named skips per source, summarised at the end of a run."""

    def __init__(self):
        self.skipped: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # source -> (id, reason, message)

    def skip(self, source: str, item_id: str, reason: str, message: str = "") -> None:
        self.skipped[source].append((item_id, reason, message))
        log.warning("skipped %s/%s (%s): %s", source, item_id, reason, message or reason)

    def count(self, source: str | None = None) -> int:
        if source is not None:
            return len(self.skipped.get(source, []))
        return sum(len(v) for v in self.skipped.values())

    def reasons(self, source: str) -> Counter:
        return Counter(reason for _, reason, _ in self.skipped.get(source, []))

    def ids(self, source: str, reason: str | None = None) -> list[str]:
        return [i for i, r, _ in self.skipped.get(source, []) if reason is None or r == reason]

    def summary(self) -> str:
        lines = []
        for source in sorted(self.skipped):
            entries = self.skipped[source]
            lines.append(f"{source}: skipped {len(entries)}")
            for reason, n in sorted(self.reasons(source).items()):
                names = [i for i, r, _ in entries if r == reason]
                shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
                lines.append(f"  {reason}: {n} ({shown})")
        return "\n".join(lines)


class Source:
    """Base of the dataset loaders: subclasses set `kind` and implement entries() and load()."""
    kind = ""

    def __init__(self, root: str | Path, *, name: str | None = None, min_frames: int | None = None,
                 max_frames: int | None = None):
        self.root = Path(root)
        self.name = name or self.kind
        self.min_frames = MIN_CLIP_FRAMES if min_frames is None else int(min_frames)
        self.max_frames = max_frames

    def entries(self) -> list[Entry]:
        raise NotImplementedError

    def load(self, entry: Entry) -> list[MotionItem]:
        raise NotImplementedError

    def require_dir(self, path: Path, what: str) -> Path:
        if not path.is_dir():
            raise DanceMosaicError(f"{self.kind} directory {path} not found: expected {what}")
        return path


def check_item_joints(joints, what: str) -> np.ndarray:
    """(T, 22, 3) finite float32 joints, else ItemError("wrong shape" | "nan frames" | "empty")."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ItemError("wrong shape", f"{what} has shape {joints.shape}; expected (frames, {NUM_JOINTS}, 3)")
    if len(joints) == 0:
        raise ItemError("empty", f"{what} has no frames")
    bad = ~np.isfinite(joints.reshape(len(joints), -1)).all(axis=1)
    if bad.any():
        raise ItemError("nan frames", f"{what} has NaN/inf in {bad.sum()} frame(s), first at frame "
                                      f"{np.flatnonzero(bad)[0]}")
    return joints.astype(np.float32)


def check_finite_rows(array: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if bad.any():
        raise ItemError("nan frames", f"{what} has NaN/inf in {bad.sum()} frame(s), first at frame "
                                      f"{np.flatnonzero(bad)[0]}")


def load_npy(path: Path, what: str) -> np.ndarray:
    """A numeric .npy array (never unpickled); a missing, empty or corrupt file is an ItemError."""
    if not path.is_file():
        raise ItemError("missing file", f"{what} {path} does not exist")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ItemError("unreadable", f"cannot read {what} {path}: {exc}") from None
    if not np.issubdtype(array.dtype, np.number):
        raise ItemError("wrong shape", f"{what} {path} holds {array.dtype}, expected numbers")
    return array


def read_id_list(path: Path) -> list[str]:
    """Non-empty stripped lines of a split/ignore file (first whitespace field)."""
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def iter_items(source: Source, report: SkipReport, entries=None) -> Iterator[MotionItem]:
    """Every valid item of `source` at MOTION_FPS; everything else becomes a counted skip.
    `entries`: source.entries() already listed (e.g. wrapped in a progress bar)."""
    for entry in source.entries() if entries is None else entries:
        try:
            items = source.load(entry)
        except ItemError as exc:
            report.skip(source.name, entry.id, exc.reason, str(exc))
            continue
        except DanceMosaicError as exc:  # raised by shared readers (fk, audio) for this file
            report.skip(source.name, entry.id, "unreadable", str(exc))
            continue
        for item in items:
            item.source = source.name
            try:
                item.joints = check_item_joints(item.joints, f"{source.name}/{item.id}")
            except ItemError as exc:
                report.skip(source.name, item.id, exc.reason, str(exc))
                continue
            if item.frames < source.min_frames:
                report.skip(source.name, item.id, "too short",
                            f"{item.frames} frames < {source.min_frames} ({source.min_frames / MOTION_FPS:.1f} s)")
                continue
            if source.max_frames is not None and item.frames >= source.max_frames:
                report.skip(source.name, item.id, "too long",
                            f"{item.frames} frames >= {source.max_frames} (reference filter of {source.kind})")
                continue
            yield item
