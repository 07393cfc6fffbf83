"""Long dance for whole songs (paper section 3.5, fig. 4(d)): segments, then masked transitions.

1. The song's token sequence is cut into windows of `window` tokens; each is generated on its
   own music by the pipeline.
2. At every seam, a transition window of `context` tokens on each side is decoded again with
   the `transition` tokens around the seam masked and everything else fixed, so the new tokens
   are conditioned on both neighbours and on the music there.
3. The whole token sequence is decoded once (the tokenizer is convolutional), so the root
   trajectory integrates continuously across seams.

The transformer only ever sees one window; memory is that of one window whatever the song's
length (the token ids, 6 integers per 4 frames, are what grows).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import PoseConstraints
from dancemosaic_core.inference.pipeline import DanceOutput, DancePipeline
from dancemosaic_core.motion.skeleton import MOTION_FPS, TOKEN_DOWNSAMPLE


def segment_bounds(n: int, window: int) -> list[tuple[int, int]]:
    """Token ranges [a, b) of consecutive segments covering n tokens."""
    return [(a, min(a + window, n)) for a in range(0, n, window)]


def generate_long(pipe: DancePipeline, *, frames: int, music: np.ndarray | None = None,
                  constraints: PoseConstraints | None = None, window: int | None = None,
                  transition: int = 4, context: int = 12, seed: int = 0, progress=None, **kwargs) -> DanceOutput:
    """A dance of any length. kwargs go to the pipeline (genre, text, weights, steps, ...).
    Constraints apply to the segments they fall in (segment-local times)."""
    window = pipe.m.max_tokens if window is None else window
    context = min(context, window // 2)
    if window > pipe.m.max_tokens or window < 2 * transition:
        raise DanceMosaicError(f"window must be in [{2 * transition}, {pipe.m.max_tokens}] tokens, got {window}")
    n = math.ceil(frames / TOKEN_DOWNSAMPLE)
    if n <= window:
        return pipe(frames=frames, music=music, constraints=constraints, seed=seed, **kwargs)
    frame_of = lambda tok: tok * TOKEN_DOWNSAMPLE  # noqa: E731
    music_at = (lambda a, b: None) if music is None else (lambda a, b: music[frame_of(a):frame_of(b)])

    def local(a: int, b: int) -> PoseConstraints | None:
        if constraints is None or not len(constraints):
            return None
        return constraints.window(frame_of(a) / MOTION_FPS, frame_of(b - a) / MOTION_FPS)

    # 1. segments, each on its own music
    segments = segment_bounds(n, window)
    ids, errors = [], []
    for i, (a, b) in enumerate(segments):
        out = pipe(frames=frame_of(b - a), music=music_at(a, b), constraints=local(a, b), seed=seed + i, **kwargs)
        ids.append(out.ids)
        if out.constraint_error_after is not None:
            errors.append(out.constraint_error_after)
        if progress:
            progress(i + 1, 2 * len(segments) - 1)
    ids = torch.cat(ids, dim=0)                                             # (n, Q)
    # 2. masked transitions conditioned on both neighbours
    for k, (seam, _) in enumerate(segments[1:]):
        a, b = max(0, seam - context), min(n, seam + context)
        fixed = torch.ones(1, b - a, dtype=torch.bool, device=ids.device)
        fixed[0, seam - transition - a: seam + transition - a] = False
        out = pipe(frames=frame_of(b - a), music=music_at(a, b), constraints=local(a, b), seed=seed + 10_000 + k,
                   fixed_ids=ids[a:b][None], fixed_mask=fixed, **kwargs)
        ids[a:b] = out.ids
        if progress:
            progress(len(segments) + k + 1, 2 * len(segments) - 1)
    # 3. one decode of the whole sequence
    joints = pipe.m.joints_from_ids(ids[None])[0, :frames].astype(np.float32)
    return DanceOutput(joints=joints, ids=ids, constraint_error_after=float(np.mean(errors)) if errors else None,
                       info={"segments": len(segments), "transitions": len(segments) - 1})
