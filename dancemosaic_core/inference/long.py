"""Long dance for whole songs (paper section 3.5, fig. 4(d)): segments, then masked transitions.

1. The song's token sequence is cut into windows of `window` tokens; each is generated on its
   own music by the pipeline, SAMPLE_BATCH windows in one batched forward per decoding step.
2. At every seam, a transition window of `context` tokens on each side is decoded again with
   the `transition` tokens around the seam masked and everything else fixed, so the new tokens
   are conditioned on both neighbours and on the music there (batched as in 1: the transition
   windows do not overlap). Every window samples from its own seed, so the dance does not
   depend on the batching.
3. Beat-aware ITTO (with rhythm_weight > 0): the embeddings of the whole sequence are optimised
   window by window (`window` tokens moving, `context` tokens on each side frozen), the rhythm
   term aligning speed dips to the song's beats: the even windows first (after their left
   neighbour's sampled tokens), then the odd ones between their optimised neighbours; each pass
   runs its windows as one batch (ITTO_BATCH at a time).
4. The whole sequence is decoded once (the tokenizer is convolutional), so the root trajectory
   integrates continuously across seams.

The transformer only ever sees one window; memory is that of one window whatever the song's
length (the token ids, 6 integers per 4 frames, are what grows).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from dancemosaic_core.audio.features import beat_times
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import PoseConstraints
from dancemosaic_core.inference.itto import optimize_tokens
from dancemosaic_core.inference.pipeline import DanceOutput, DancePipeline
from dancemosaic_core.motion.skeleton import MOTION_FPS, TOKEN_DOWNSAMPLE


def segment_bounds(n: int, window: int) -> list[tuple[int, int]]:
    """Token ranges [a, b) of consecutive segments covering n tokens."""
    return [(a, min(a + window, n)) for a in range(0, n, window)]


def generate_long(pipe: DancePipeline, *, frames: int, music: np.ndarray | None = None,
                  constraints: PoseConstraints | None = None, window: int | None = None,
                  transition: int = 4, context: int = 12, seed: int = 0, progress=None,
                  beats: np.ndarray | None = None, rhythm_weight: float = 0.0, energy_floor: float | None = None,
                  energy_weight: float = 1.0, foot_weight: float = 0.0, **kwargs) -> DanceOutput:
    """A dance of any length. kwargs go to the pipeline (genre, text, weights, steps, ...).
    Constraints apply to the segments they fall in (segment-local times). beats (s from the
    start; default the beat column of `music`) and rhythm_weight: beat-aware ITTO (step 3)."""
    window = pipe.model.max_tokens if window is None else window
    context = min(context, window // 2)
    if window > pipe.model.max_tokens or window < 2 * transition:
        raise DanceMosaicError(f"window must be in [{2 * transition}, {pipe.model.max_tokens}] tokens, got {window}")
    energy_floor = pipe.energy_floor(kwargs.get("genre"), energy_floor)
    n = math.ceil(frames / TOKEN_DOWNSAMPLE)
    if n <= window:
        out = pipe(frames=frames, music=music, constraints=constraints, seed=seed, beats=beats,
                   rhythm_weight=rhythm_weight, energy_floor=energy_floor,
                   energy_weight=energy_weight, foot_weight=foot_weight, **kwargs)
        if progress:
            progress(1, 1)
        return out
    frame_of = lambda tok: tok * TOKEN_DOWNSAMPLE  # noqa: E731
    music_at = (lambda a, b: None) if music is None else (lambda a, b: music[frame_of(a):frame_of(b)])

    def local(a: int, b: int) -> PoseConstraints | None:
        if constraints is None or not len(constraints):
            return None
        return constraints.window(frame_of(a) / MOTION_FPS, frame_of(b - a) / MOTION_FPS)

    # 1. segments, each on its own music
    segments = segment_bounds(n, window)
    itto_steps, itto_lr = int(kwargs.get("itto_steps", 50)), float(kwargs.get("itto_lr", 0.05))
    with_rhythm = rhythm_weight > 0 and itto_steps > 0
    total_steps = 2 * len(segments) - 1 + (len(segments) if with_rhythm else 0)
    report = (lambda done: progress(done, total_steps)) if progress else (lambda done: None)
    sampler = _WindowSampler(pipe, kwargs, music_at, local)
    jobs = [_Window(a, b, seed + i) for i, (a, b) in enumerate(segments)]
    ids = torch.cat(sampler.run(jobs, report), dim=0)                       # (n, Q)
    # 2. masked transitions conditioned on both neighbours (their windows do not overlap)
    jobs = []
    for k, (seam, _) in enumerate(segments[1:]):
        a, b = max(0, seam - context), min(n, seam + context)
        fixed = torch.ones(b - a, dtype=torch.bool, device=ids.device)
        fixed[seam - transition - a: seam + transition - a] = False
        jobs.append(_Window(a, b, seed + 10_000 + k, ids[a:b].clone(), fixed))
    for job, new in zip(jobs, sampler.run(jobs, lambda done: report(len(segments) + done))):
        ids[job.a:job.b] = new
    errors = sampler.errors
    # 3. beat-aware ITTO, windows batched (even ones, then odd ones), 4. one decode of the whole sequence
    if beats is None and music is not None:
        beats = beat_times(music)
    z = pipe.model.tokenizer.embed(ids[None])
    rhythm = []
    if with_rhythm and beats is not None:
        terms = dict(weight=rhythm_weight, energy_floor=energy_floor, energy_weight=energy_weight,
                     foot_weight=foot_weight, steps=itto_steps, lr=itto_lr)
        done = 0
        for batch in _itto_batches(segments, n, context):
            z, rs = _rhythm_windows(pipe, z, beats, batch, **terms)
            rhythm += [r for r in rs if r is not None]
            done += len(batch)
            if progress:
                progress(2 * len(segments) - 1 + done, total_steps)
    with torch.no_grad():
        joints = pipe.model.joints_from_embeddings(z)[0, :frames].cpu().numpy().astype(np.float32)
    out = DanceOutput(joints=joints, ids=ids, constraint_error_after=float(np.mean(errors)) if errors else None,
                      info={"segments": len(segments), "transitions": len(segments) - 1})
    if rhythm:
        out.rhythm_before, out.rhythm_after = (float(np.mean(v)) for v in zip(*rhythm))
    return out


# Windows sampled together (one batched forward per decoding step): on 2 CPU cores a guided
# forward of 24 tokens costs ~5.7 ms a window in batches of 4-16 against ~10.5 ms alone; 32
# is slower again (6.5 ms).
SAMPLE_BATCH = 8


@dataclass
class _Window:
    """Tokens [a, b) of the song to sample with `seed`; fixed (b - a,) keeps those of ids (b - a, Q)."""
    a: int
    b: int
    seed: int
    ids: torch.Tensor | None = None
    fixed: torch.Tensor | None = None


class _WindowSampler:
    """Samples song windows (steps 1-2): windows with pose constraints or a joint-limit term go
    through the whole pipeline one at a time (their ITTO is per window); the others are sampled
    SAMPLE_BATCH at a time by length (DancePipeline.sample_windows: each from its own seed, so
    the tokens do not depend on the batching)."""

    def __init__(self, pipe: DancePipeline, kwargs: dict, music_at, local):
        self.pipe, self.kwargs, self.music_at, self.local = pipe, kwargs, music_at, local
        self.errors: list[float] = []

    def run(self, jobs: list[_Window], report) -> list[torch.Tensor]:
        """Token ids (b - a, Q) of each job, in order; report(done) after each batch."""
        out: list[torch.Tensor | None] = [None] * len(jobs)
        alone, groups = [], {}
        for i, j in enumerate(jobs):
            if self._needs_itto(j):
                alone.append(i)
            else:
                groups.setdefault(j.b - j.a, []).append(i)
        batches = [[i] for i in alone] + [g[k:k + SAMPLE_BATCH] for g in groups.values()
                                          for k in range(0, len(g), SAMPLE_BATCH)]
        done = 0
        for batch in batches:
            for i, new in zip(batch, self._sample([jobs[i] for i in batch])):
                out[i] = new
            done += len(batch)
            report(done)
        return out

    def _needs_itto(self, job: _Window) -> bool:
        constraints = self.local(job.a, job.b)
        return (constraints is not None and len(constraints) > 0) or self.kwargs.get("joint_limit_fn") is not None

    def _sample(self, batch: list[_Window]) -> list[torch.Tensor]:
        frames = (batch[0].b - batch[0].a) * TOKEN_DOWNSAMPLE
        fixed = batch[0].fixed is not None
        if len(batch) == 1 and self._needs_itto(batch[0]):
            j = batch[0]
            res = self.pipe(frames=frames, music=self.music_at(j.a, j.b), constraints=self.local(j.a, j.b),
                            seed=j.seed, fixed_ids=j.ids[None] if fixed else None,
                            fixed_mask=j.fixed[None] if fixed else None, **self.kwargs)
            if res.constraint_error_after is not None:
                self.errors.append(res.constraint_error_after)
            return [res.ids]
        sampling = {k: self.kwargs[k] for k in SAMPLING_KWARGS if k in self.kwargs}
        ids = self.pipe.sample_windows(frames=frames, music=[self.music_at(j.a, j.b) for j in batch],
                                       seeds=[j.seed for j in batch],
                                       fixed_ids=torch.stack([j.ids for j in batch]) if fixed else None,
                                       fixed_mask=torch.stack([j.fixed for j in batch]) if fixed else None,
                                       **sampling)
        return list(ids)


# What sample_windows takes of the pipeline's keyword arguments (the rest are ITTO's).
SAMPLING_KWARGS = ("genre", "text", "weights", "steps", "temperature", "top_k")


# Windows optimised together (one batched decode per ITTO step): on 2 CPU cores a step of 12
# windows of 36 tokens costs ~3.8 ms a window against ~12 ms one at a time; the cap keeps memory
# flat in the song's length.
ITTO_BATCH = 16


def _itto_batches(segments: list[tuple[int, int]], n: int, context: int) -> list[list[tuple[int, int, int, int]]]:
    """Windows (start, a, b, stop) for beat-aware ITTO: tokens [a, b) move, [start, a) and [b, stop)
    are frozen context. Even segments first, with their left context (the sampled tokens); then odd
    ones with both neighbours' context, already optimised, so every seam is optimised knowing both
    sides' final embeddings. Within a pass windows do not overlap what the others move, so each
    pass is batched by window shape, at most ITTO_BATCH at a time."""
    passes = ([(max(0, a - context), a, b, b) for a, b in segments[0::2]],
              [(max(0, a - context), a, b, min(n, b + context)) for a, b in segments[1::2]])
    batches = []
    for windows in passes:
        groups: dict[tuple[int, int, int], list] = {}
        for w in windows:
            groups.setdefault((w[3] - w[0], w[1] - w[0], w[2] - w[0]), []).append(w)
        for group in groups.values():
            batches += [group[i:i + ITTO_BATCH] for i in range(0, len(group), ITTO_BATCH)]
    return batches


def _rhythm_windows(pipe: DancePipeline, z: torch.Tensor, beats: np.ndarray, windows, *, weight: float,
                    energy_floor: float, energy_weight: float, foot_weight: float, steps: int, lr: float):
    """Optimise the embeddings of tokens [a, b) of z (1, n, d) for the rhythm term over frames
    [start, stop) * 4 of each window (start, a, b, stop) of one shape, the rest frozen, in one
    batch; returns (z, [(rhythm before, after) or None when the window holds < 2 beats])."""
    items, targets = [], []
    for start, a, b, stop in windows:
        t0 = start * TOKEN_DOWNSAMPLE / MOTION_FPS
        target = pipe.rhythm_target(z[:, start:stop], beats - t0, weight, energy_floor, energy_weight, foot_weight)
        if target is not None:
            items.append((start, a, b, stop))
            targets.append(target)
    out = [None] * len(windows)
    if not items:
        return z, out
    start, a, b, stop = items[0]
    local = torch.cat([z[:, s0:s1] for s0, _, _, s1 in items])
    frozen = torch.ones(len(items), stop - start, dtype=torch.bool, device=z.device)
    frozen[:, a - start:b - start] = False
    rhythm = replace(targets[0], phase=torch.cat([t.phase for t in targets]),
                     energy_floor=torch.cat([t.energy_floor for t in targets]),
                     planted=None if targets[0].planted is None else torch.cat([t.planted for t in targets]))
    res = optimize_tokens(local, pipe.model.joints_from_embeddings, rhythm=rhythm, frozen=frozen, steps=steps, lr=lr)
    z = z.clone()
    for i, (s0, a0, b0, _) in enumerate(items):
        z[:, a0:b0] = res.embeddings[i:i + 1, a0 - s0:b0 - s0]
        out[windows.index(items[i])] = (float(res.rhythm_before[i]), float(res.rhythm_after[i]))
    return z, out
