"""Streaming continuation for live music (docs/inference.md, "Streaming (live music)").

Audio arrives in blocks (`push_audio`); `next_chunk()` returns the next `chunk_seconds` of dance.
Blocks come at any sample rate (`reset(sample_rate=...)` starts a stream at one); they are
resampled to the feature rate inside StreamingMusicFeatures.
Chunk k covers music time [start + k * chunk_seconds, ...) (start: start_seconds, or later when the
lookahead needs it, `_place_start`). It is generated up to
`lead_seconds` before it plays, so part or all of its music is not heard yet: those frames'
features are predicted from the beat grid (the features one bar earlier, phase-aligned by the
online beat tracker; audio.beat.predict_features).

Continuity: the window the pipeline decodes is [context tokens of the previous chunk, fixed] +
[new tokens, masked]: the same masked decoding loop as inpainting. The decoded window is put in
the world frame by the rigid (yaw + horizontal shift) fit of its context frames to the frames
already emitted, and the residual offset at the seam fades out over `blend_frames`, so the
first new frame continues the last emitted one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from dancemosaic_core.audio.features import beat_times, feature_sr
from dancemosaic_core.audio.streaming import StreamingMusicFeatures
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import PoseConstraints
from dancemosaic_core.inference.guidance import GuidanceWeights
from dancemosaic_core.inference.itto import STREAMING_BEAT_ITTO as BEAT
from dancemosaic_core.inference.pipeline import DanceOutput, DancePipeline
from dancemosaic_core.motion.skeleton import MOTION_FPS, TOKEN_DOWNSAMPLE


# Lookahead sized from measured compute (lead_for): the slowest measured chunk times
# LEAD_SAFETY (the p99 of a busy robot computer runs above an idle warm-up's worst) plus
# LEAD_MARGIN_S: the retarget node's command_lead and deadline_margin (0.1 s each: a chunk that
# comes later than both before its start finds the plan extended to rest), the audio path's delay
# before a sample counts as heard (capture block, the resampler's ~9 ms), the IK and transport;
# at most MAX_LEAD_S. Measured (bench live, 60 s, idle): with x1.5 + 0.25 s, 65 of 146 chunks
# came under ~0.2 s before their start and met a plan extended to rest; x1.5 + 0.35 s, 16 of
# 147; x2 + 0.35 s, 1 of 147. With chunks drafted ahead the compute timed is the refinement's
# (~60 ms): x2 + 0.35 s brought chunks 0.19-0.32 s before their start on a slower 2-core machine
# (audio heard in 73 ms steps), 51 of 146 met an extended plan; x2 + 0.5 s, 2 of 147 (0.12 and
# 0.20 s before their start, after a stall); hence 0.6 s.
LEAD_SAFETY = 2.0
LEAD_MARGIN_S = 0.6
MAX_LEAD_S = 5.0
# Music features are recomputed once per this much new audio (StreamingMusicFeatures): each
# update redoes ~5 s of audio (the chroma margins), ~85 ms at one BLAS thread, so every 0.5 s it
# took a fifth of a core; until the next update the newest frames come from the beat grid's
# prediction, as the frames a draft looks ahead to always do.
FEATURE_UPDATE_S = 1.0
# Live (realtime=True), a draft's ITTO stops when its chunk's refinement is due, after at least
# these steps: on a loaded CPU the dance loses some rhythm instead of falling behind the music.
MIN_DRAFT_ITTO_STEPS = 5
WARMUP_BPM = 120.0         # the warm-up's click track
WARMUP_LOCK_S = 4.0        # its chunks are timed from here on (the beat tracker locks in ~3 s)


def lead_for(compute_seconds) -> float:
    """Seconds ahead of playback to generate each chunk, from measured compute per chunk."""
    computes = np.asarray(compute_seconds, dtype=np.float64).reshape(-1)
    if not len(computes) or not np.isfinite(computes).all() or (computes < 0).any():
        raise DanceMosaicError(f"lead_for needs measured compute seconds (finite, >= 0), got {computes}")
    return float(min(computes.max() * LEAD_SAFETY + LEAD_MARGIN_S, MAX_LEAD_S))


@dataclass
class DanceChunk:
    joints: np.ndarray             # (N, 22, 3) float32, world frame, y up, metres
    start_time: float              # music-clock time of joints[0], seconds
    fps: float
    index: int
    tempo_bpm: float               # 0 when the tracker has no tempo yet
    beat_phase: float              # [0, 1) at the moment of generation
    compute_seconds: float         # next_chunk's wall time: the refinement, or draft + refinement
    cpu_seconds: float = 0.0       # CPU time of the generating thread on it, its draft's included
    info: dict = field(default_factory=dict)

    @property
    def end_time(self) -> float:
        return self.start_time + len(self.joints) / self.fps

    @property
    def cycle_seconds(self) -> float:
        """Wall time the generator spent on this chunk: its draft (when prepared ahead) and
        next_chunk (which holds the draft when it was made on the spot)."""
        ahead = self.info.get("drafted_ahead", False)
        return self.compute_seconds + (self.info["draft_compute_seconds"] if ahead else 0.0)


@dataclass
class _Draft:
    """A chunk's window before its refinement: tokens sampled and ITTO run on the music heard
    at `heard_seconds` (plus the beat grid's prediction)."""
    index: int
    first: int                     # first frame of the window (context included), music clock
    frames: int
    ctx: int                       # context tokens at the window's start
    out: DanceOutput
    heard_seconds: float
    compute_seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class YawShift:
    """x -> R_y(yaw) x + shift (shift horizontal): decode frame -> world frame."""
    yaw: float
    shift: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        out = np.array(x, dtype=np.float64, copy=True)
        out[..., 0] = c * x[..., 0] + s * x[..., 2] + self.shift[0]
        out[..., 2] = -s * x[..., 0] + c * x[..., 2] + self.shift[2]
        return out

    def invert(self, y: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        u = np.array(y, dtype=np.float64, copy=True)
        u[..., 0] -= self.shift[0]
        u[..., 2] -= self.shift[2]
        out = u.copy()
        out[..., 0] = c * u[..., 0] - s * u[..., 2]
        out[..., 2] = s * u[..., 0] + c * u[..., 2]
        return out


def fit_yaw_shift(src: np.ndarray, dst: np.ndarray) -> YawShift:
    """Least-squares rotation about y plus horizontal shift taking src joints onto dst (2-D
    Procrustes on the XZ coordinates of every joint of every frame)."""
    a = src[..., [0, 2]].reshape(-1, 2).astype(np.float64)
    b = dst[..., [0, 2]].reshape(-1, 2).astype(np.float64)
    ca, cb = a.mean(0), b.mean(0)
    a0, b0 = a - ca, b - cb
    # maximise sum b0 . R a0 with R = [[c, s], [-s, c]] acting on (x, z)
    num = (a0[:, 1] * b0[:, 0] - a0[:, 0] * b0[:, 1]).sum()
    den = (a0[:, 0] * b0[:, 0] + a0[:, 1] * b0[:, 1]).sum()
    yaw = float(np.arctan2(num, den))
    c, s = np.cos(yaw), np.sin(yaw)
    rot_ca = np.array([c * ca[0] + s * ca[1], -s * ca[0] + c * ca[1]])
    t = cb - rot_ca
    return YawShift(yaw, np.array([t[0], 0.0, t[1]]))


def _tokens(seconds: float) -> int:
    """The nearest whole number of tokens to `seconds` of motion."""
    return int(round(seconds * MOTION_FPS / TOKEN_DOWNSAMPLE))


class StreamingDancer:
    def __init__(self, *, pipeline: DancePipeline, genre: str | None = None, text: str | None = None,
                 chunk_seconds: float = 0.4, context_seconds: float = 2.0, lead_seconds: float = 0.5,
                 start_seconds: float = 2.0, min_heard_seconds: float = 1.0, sample_rate: int | None = None,
                 weights: GuidanceWeights = GuidanceWeights(), seed: int = 0, steps: int = 3,
                 joint_limit_fn=None, itto_steps: int = BEAT["itto_steps"], refine_steps: int = BEAT["refine_steps"],
                 blend_frames: int = 8,
                 rhythm_weight: float = BEAT["rhythm_weight"], energy_weight: float = BEAT["energy_weight"],
                 itto_lr: float = BEAT["itto_lr"], foot_weight: float = BEAT["foot_weight"], realtime: bool = False):
        self.pipe = pipeline
        self.fps = float(MOTION_FPS)
        self.chunk_tokens = max(1, _tokens(chunk_seconds))
        self.context_tokens = max(1, _tokens(context_seconds))
        if self.chunk_tokens + self.context_tokens > pipeline.model.max_tokens:
            raise DanceMosaicError(f"chunk_seconds + context_seconds must fit the model's window "
                                   f"({pipeline.model.max_tokens * TOKEN_DOWNSAMPLE / MOTION_FPS:.1f} s)")
        self.chunk_frames = self.chunk_tokens * TOKEN_DOWNSAMPLE
        self.start_seconds = float(start_seconds)
        self.lead_seconds, self.min_heard_seconds = float(lead_seconds), float(min_heard_seconds)
        self._place_start()
        self.sample_rate = int(sample_rate or feature_sr(self.fps))
        self.pipe.model.prompt(genre, text)                  # validates the genre now
        self.genre, self.text, self.weights = genre, text, weights
        self.seed, self.steps, self.itto_steps = int(seed), int(steps), int(itto_steps)
        if not 0 <= int(refine_steps) <= 1000:
            raise DanceMosaicError(f"refine_steps must be 0..1000, got {refine_steps}")
        self.refine_steps = int(refine_steps)
        self.realtime = bool(realtime)       # audio arrives at its own pace: drafts keep to a time budget
        self.joint_limit_fn, self.blend_frames = joint_limit_fn, int(blend_frames)
        # beat-aware ITTO on the tracker's beat grid (heard and predicted beats of the window)
        self.rhythm_weight, self.energy_weight, self.itto_lr = float(rhythm_weight), float(energy_weight), float(itto_lr)
        self.foot_weight = float(foot_weight)
        self.warm_compute_seconds: list[float] = []
        self.constraints: PoseConstraints | None = None
        self._lock = threading.Lock()
        self.reset()

    @classmethod
    def from_pretrained(cls, model_dir, *, device="auto", **kwargs) -> "StreamingDancer":
        return cls(pipeline=DancePipeline.from_pretrained(model_dir, device=device), **kwargs)

    def warmup(self, chunks: int = 1) -> float:
        """Pay one-off costs before the music starts (the feature extractor's JIT compilation,
        first model calls) by streaming a click track as a live source would; returns the
        seconds it took. Its beats make the chunks cost what a dance does (beat-aware ITTO runs
        only on a beat grid): with chunks > 1, the compute of `chunks - 1` chunks played after
        the beat tracker has locked is kept in `warm_compute_seconds` (lead_for sizes the
        lookahead from it). State is reset afterwards."""
        from dancemosaic_core.audio.synth import click_track
        if not 1 <= int(chunks) <= 100:
            raise DanceMosaicError(f"warm-up chunks must be 1..100, got {chunks}")
        t0 = time.perf_counter()
        timed_from = WARMUP_LOCK_S if chunks > 1 else 0.0
        seconds = max(timed_from, self.next_start_time) + (int(chunks) + 1) * self.chunk_frames / self.fps + 1.0
        wave, _ = click_track(WARMUP_BPM, seconds, sr=self.sample_rate)
        block, made, computes, need = self.sample_rate // 10, 0, [], int(chunks) - 1
        optimised = False
        for i in range(0, len(wave), block):
            self.push_audio(0.3 * wave[i:i + block])
            while self.ready() and (not made or len(computes) < need):
                chunk = self.next_chunk()
                made += 1
                # the first chunk whose draft ran ITTO (the first with a beat grid) may pay
                # one-off costs of its own (torch.optim's import of torch._dynamo did, ~1.7 s,
                # before ITTO had its own Adam), which alone would size the lookahead to its cap
                first_itto = not optimised and chunk.info["draft_itto_steps"] > 0
                optimised = optimised or first_itto
                if made > 1 and chunk.start_time >= timed_from and not first_itto:
                    # a draft and a refinement longer than the chunk delay the next refinement
                    # by the excess: the lookahead covers it too
                    computes.append(chunk.compute_seconds
                                    + max(0.0, chunk.cycle_seconds - self.chunk_frames / self.fps))
                self.prepare()                        # as the generator node does after publishing
            if made and len(computes) >= need:
                break
        self.warm_compute_seconds = computes
        self.reset()
        return time.perf_counter() - t0

    def set_lead(self, seconds: float) -> None:
        """Generate each chunk `seconds` before it plays (e.g. lead_for(warm_compute_seconds))."""
        if not (np.isfinite(seconds) and 0.0 <= seconds <= MAX_LEAD_S):
            raise DanceMosaicError(f"lead must be in [0, {MAX_LEAD_S:g}] s, got {seconds}")
        self.lead_seconds = float(seconds)
        if self.index == 0:               # not started: the first chunk may move (its draft with it)
            self._place_start()
            self._draft = None

    def _place_start(self) -> None:
        """The first chunk starts at start_seconds, or later when the lookahead needs it: at
        least one chunk after it is due (min_heard_seconds heard + lead_seconds), so it is drafted
        as soon as min_heard_seconds are heard and refined when due, like every later chunk. An
        earlier start would make the first chunks due at once, drafted on the spot one after the
        other while the audio waits in the queue (bench live: the first four chunks 190-410 ms
        late against ~75 ms after them, the whole run's p99)."""
        need = self.min_heard_seconds + self.lead_seconds + self.chunk_frames / self.fps if self.lead_seconds > 0 else 0.0
        tokens = max(_tokens(self.start_seconds), int(np.ceil(need * MOTION_FPS / TOKEN_DOWNSAMPLE - 1e-9)))
        self.start_frame = tokens * TOKEN_DOWNSAMPLE

    # --- inputs ---------------------------------------------------------------------------------
    def reset(self, sample_rate: int | None = None) -> None:
        """Start a new stream whose audio arrives at `sample_rate` Hz (default: the current
        stream's rate); blocks at any rate are resampled to the feature rate."""
        with self._lock:
            if sample_rate is not None:
                self.sample_rate = int(sample_rate)
            # recomputed when a chunk is drafted, never on push or for a refinement (latency)
            self.features = StreamingMusicFeatures(self.sample_rate, self.fps, update_seconds=FEATURE_UPDATE_S,
                                                   auto_update=False)
            self.index = 0
            self._ids = None               # (context_tokens, Q) tokens of the last chunk's tail
            self._tail = None              # (context frames, 22, 3) emitted joints, world frame
            self._draft = None             # the next chunk's _Draft when prepare() made it

    def push_audio(self, samples: np.ndarray, sample_rate: int | None = None) -> None:
        """Append mono samples of the stream; `sample_rate` (when given) must be the stream's."""
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            raise DanceMosaicError(f"audio at {sample_rate} Hz pushed into a stream at {self.sample_rate} Hz; "
                                   f"call reset(sample_rate={sample_rate}) to start a stream at that rate")
        with self._lock:
            self.features.push(np.asarray(samples, dtype=np.float32))

    def set_prompt(self, genre: str | None = None, text: str | None = None) -> None:
        self.pipe.model.prompt(genre, text)
        self.genre, self.text = genre, text
        self._draft = None

    def set_weights(self, *, text: float | None = None, music: float | None = None, pose: float | None = None) -> None:
        new = {k: float(v) for k, v in (("text", text), ("music", music), ("pose", pose)) if v is not None}
        self.weights = replace(self.weights, **new)      # GuidanceWeights refuses values out of range
        self._draft = None

    def set_constraints(self, constraints: PoseConstraints | None) -> None:
        """Constraints on the music clock (seconds) in the world frame of the emitted joints."""
        self.constraints = constraints if constraints is not None and len(constraints) else None
        self._draft = None

    # --- timing ---------------------------------------------------------------------------------
    @property
    def next_start_time(self) -> float:
        return (self.start_frame + self.index * self.chunk_frames) / self.fps

    @property
    def seconds_heard(self) -> float:
        return self.features.seconds_heard

    def ready(self) -> bool:
        heard = self.seconds_heard
        return heard >= self.min_heard_seconds and heard >= self.next_start_time - self.lead_seconds

    # --- generation -------------------------------------------------------------------------------
    def _music(self, first: int, stop: int, update: bool = True) -> np.ndarray:
        """Features of frames [first, stop): heard ones, then predicted from the beat grid (the
        tracker's newest phase); update False: no due recomputation of the heard ones."""
        with self._lock:
            hist = self.features.features(provisional=True, update=update)
            h0 = self.features.start_frame(provisional=True, update=update)
            future = max(0, stop - (h0 + len(hist)))
            pred = self.features.tracker.predict_features(hist, future, self.fps, history_start=h0)
        allf = np.concatenate([hist, pred]) if len(hist) else pred
        if len(allf) == 0:
            return np.zeros((stop - first, hist.shape[1] if hist.ndim == 2 else 35), np.float32)
        lo = first - h0
        rows = np.clip(np.arange(lo, lo + stop - first), 0, len(allf) - 1)
        return allf[rows]

    def _window_constraints(self, world_from_decode: YawShift | None, first: int, frames: int):
        if self.constraints is None:
            return None
        window = self.constraints.window(first / self.fps, frames / self.fps)
        if not len(window):
            return None
        pos = window.positions if world_from_decode is None else world_from_decode.invert(window.positions)
        return PoseConstraints(window.times, window.joints, pos, window.weights)

    def prepare(self) -> bool:
        """Draft the next chunk now (tokens, most ITTO steps), so that `next_chunk` only refines
        it on the newest beat grid: call it right after publishing a chunk. The draft's music
        is what is heard now plus the beat grid's prediction. A stream's first chunk
        waits for min_heard_seconds; returns whether a draft is ready."""
        if self.index == 0 and self.seconds_heard < self.min_heard_seconds:
            return False
        if self._draft is None or self._draft.index != self.index:
            due_in = max(0.0, self.next_start_time - self.lead_seconds - self.seconds_heard)
            self._draft = self._make_draft(time.perf_counter() + due_in if self.realtime else None)
        return True

    def _make_draft(self, deadline: float | None = None) -> _Draft:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        heard = self.seconds_heard
        first_new = self.start_frame + self.index * self.chunk_frames
        # the context is what the stream has so far, up to context_tokens: after a chunk
        # shorter than the context only that chunk's tokens exist
        ctx = 0 if self._ids is None else len(self._ids)
        first = first_new - ctx * TOKEN_DOWNSAMPLE
        frames = (ctx + self.chunk_tokens) * TOKEN_DOWNSAMPLE
        guess = None
        if ctx and self.constraints is not None:
            guess = fit_yaw_shift(self.pipe.model.joints_from_ids(self._ids[None].clone())[0], self._tail)
        fixed_ids = fixed_mask = None
        if ctx:
            fixed_ids = self._ids.new_zeros(1, ctx + self.chunk_tokens, self._ids.shape[1])
            fixed_ids[0, :ctx] = self._ids
            fixed_mask = fixed_ids.new_zeros(1, ctx + self.chunk_tokens, dtype=bool)
            fixed_mask[0, :ctx] = True
        out = self.pipe(frames=frames, genre=self.genre, text=self.text, music=self._music(first, first + frames),
                        constraints=self._window_constraints(guess, first, frames), weights=self.weights,
                        steps=self.steps, seed=self.seed + self.index, fixed_ids=fixed_ids, fixed_mask=fixed_mask,
                        joint_limit_fn=self.joint_limit_fn, itto_steps=self.itto_steps,
                        itto_lr=self.itto_lr, rhythm_weight=self.rhythm_weight, energy_weight=self.energy_weight,
                        foot_weight=self.foot_weight, itto_deadline=deadline, itto_min_steps=MIN_DRAFT_ITTO_STEPS)
        return _Draft(self.index, first, frames, ctx, out, heard, time.perf_counter() - t0, time.thread_time() - cpu0)

    def next_chunk(self) -> DanceChunk:
        """The next chunk: its draft (made now unless `prepare` made it) refined on the beat grid
        of everything heard now."""
        t0, cpu0 = time.perf_counter(), time.thread_time()
        ahead = self._draft is not None and self._draft.index == self.index
        if ahead:
            draft = self._draft
        else:   # drafted on the spot: the chunk is due now (live: the fewest draft steps)
            draft = self._make_draft(time.perf_counter() if self.realtime else None)
        self._draft = None
        out = draft.out
        if out.itto is not None and self.refine_steps > 0:
            out = self.pipe.refine(out, steps=self.refine_steps,
                                   beats=beat_times(self._music(draft.first, draft.first + draft.frames, update=False)))
        joints = out.joints.astype(np.float64)
        first_new, frames = draft.first + draft.ctx * TOKEN_DOWNSAMPLE, draft.frames
        context_frames = draft.ctx * TOKEN_DOWNSAMPLE
        if draft.ctx:
            world = fit_yaw_shift(joints[:context_frames], self._tail).apply(joints)
            seam = self._tail[-1] - world[context_frames - 1]            # offset at the last emitted frame
            fade = np.clip(1.0 - np.arange(1, frames - context_frames + 1) / max(self.blend_frames, 1), 0.0, 1.0)
            new = world[context_frames:] + fade[:, None, None] * seam
        else:
            new = joints
        # ids and tail cover the same newest frames: min(context, all emitted) of them
        self._ids = out.ids[-self.context_tokens:].clone()
        self._tail = np.concatenate([self._tail, new])[-len(self._ids) * TOKEN_DOWNSAMPLE:] \
            if self._tail is not None else new[-len(self._ids) * TOKEN_DOWNSAMPLE:]
        beat = self.features.tracker.state()
        chunk = DanceChunk(joints=new.astype(np.float32), start_time=first_new / self.fps, fps=self.fps,
                           index=self.index, tempo_bpm=float(beat.tempo_bpm or 0.0), beat_phase=float(beat.phase),
                           compute_seconds=time.perf_counter() - t0,
                           cpu_seconds=time.thread_time() - cpu0 + (draft.cpu_seconds if ahead else 0.0),
                           info={"heard_seconds": self.seconds_heard, "context_tokens": draft.ctx,
                                 "drafted_ahead": ahead, "draft_heard_seconds": draft.heard_seconds,
                                 "draft_compute_seconds": draft.compute_seconds,
                                 "draft_itto_steps": draft.out.info.get("itto_steps", 0),
                                 "refine_steps": out.info.get("refine_steps", 0),
                                 "constraint_error": out.constraint_error_after,
                                 "limit_before": out.limit_before, "limit_after": out.limit_after})
        self.index += 1
        return chunk
