"""The DanceMosaic inference pipeline (paper sections 3.4-3.5): one window of dance.

`DancePipeline.__call__` reads as the method's steps:

    1. conditions     text embedding of the genre prompt or free text; music features and the
                      beat grid's rhythm channels (audio.features.music_condition); pose P, I
    2. base tokens    the ONE masked decoding loop with classifier-free logits guidance over all
                      branches in one batched forward (inference/guidance.py)
    3. residual       quantizer layers 1..Q-1 by the residual transformer (text guidance)
    4. ITTO           gradient steps on the token embeddings through the frozen decoder to meet
                      the pose constraints and the robot's joint-limit term (eqs. 6-7), and,
                      given the music's beats, the rhythm term (beat-aware ITTO, motion/rhythm.py);
                      the optimised embeddings re-enter the classifier as a prior over the
                      codebook and steps 2-3 run again with it (re-weighted sampling), or are
                      decoded directly (itto_output; the tokens are then their nearest codes,
                      no second sampling pass)
    5. decode         tokenizer decoder -> features -> 22-joint positions

Editing, inpainting, long dance and streaming continuation are arguments (`fixed_ids`,
`fixed_mask`, `constraints`), never copies of this code. Coordinates: the decode frame of the
features (frame 0's root above the origin facing +Z, y up, metres); constraints are given in it.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from dancemosaic_core.audio.features import beat_times, music_condition
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import PoseConstraints
from dancemosaic_core.inference.decode import masked_decode, residual_decode
from dancemosaic_core.inference.guidance import GuidanceWeights, branch_plan, mix_logits
from dancemosaic_core.inference.itto import (
    code_logits,
    constraint_error,
    optimize_tokens,
)
from dancemosaic_core.inference.loader import DanceModel
from dancemosaic_core.motion.rhythm import RhythmTarget, beat_phase, mean_joint_speed, planted_feet, rhythm_target
from dancemosaic_core.motion.skeleton import (
    MOTION_FPS,
    MUSIC_FEATURE_DIM,
    TOKEN_DOWNSAMPLE,
)

MAX_ENERGY_FLOOR = 5.0      # m/s of mean joint speed: far above any human dance (corpus 0.2-0.6)


@dataclass
class DanceOutput:
    joints: np.ndarray                       # (frames, 22, 3) float32, decode frame
    ids: torch.Tensor                        # (n, Q) token ids
    constraint_error_before: float | None = None   # D (eq. 5), m^2, before ITTO
    constraint_error_itto: float | None = None     # D of the optimised continuous embeddings
    constraint_error_after: float | None = None    # D of the final motion
    limit_before: float | None = None
    limit_after: float | None = None
    rhythm_before: float | None = None       # rhythm objective (motion/rhythm.py) before ITTO
    rhythm_after: float | None = None
    info: dict = field(default_factory=dict)
    itto: "ITTOContinuation | None" = None   # set when the motion is the optimised embeddings' own


@dataclass
class ITTOContinuation:
    """What `DancePipeline.refine` needs to take more ITTO steps on a finished window: the
    optimised embeddings, Adam's moments, the objective's terms and the window's frames."""
    embeddings: torch.Tensor                 # (1, n, d)
    state: dict
    frames: int
    ids: torch.Tensor                        # (1, n, Q) the sampled ids (frozen tokens keep theirs)
    rhythm: RhythmTarget | None
    problem: dict                            # optimize_tokens' target, valid, limit_fn, frozen, lr


@dataclass
class Conditions:
    """Step 1's output: everything the logits callables condition on, for B windows (one from
    `conditions`; `cat` batches them for sample_windows)."""
    text_emb: torch.Tensor                   # (B, D)
    music: torch.Tensor | None               # (B, 4n, 41) features + rhythm channels
    pose: torch.Tensor | None                # (B, 4n, 22, 3)
    pose_weight: torch.Tensor | None         # (B, 4n, 22) float, > 0 where constrained

    @property
    def batch(self) -> int:
        return self.text_emb.shape[0]

    @staticmethod
    def cat(items: "list[Conditions]") -> "Conditions":
        """Windows of one length as one batch (all with music, or all without; no pose)."""
        if any(c.pose is not None for c in items) or len({c.music is None for c in items}) > 1:
            raise DanceMosaicError("batched windows take music for all or none of them, and no pose constraints")
        music = None if items[0].music is None else torch.cat([c.music for c in items])
        return Conditions(torch.cat([c.text_emb for c in items]), music, None, None)


def _pad_frames(x: np.ndarray, frames: int) -> np.ndarray:
    if len(x) >= frames:
        return x[:frames]
    pad = np.repeat(x[-1:], frames - len(x), axis=0) if len(x) else np.zeros((frames,) + x.shape[1:], x.dtype)
    return np.concatenate([x, pad])


class DancePipeline:
    def __init__(self, model: DanceModel):
        self.model = model

    @classmethod
    def from_pretrained(cls, model_dir, *, device="auto") -> "DancePipeline":
        return cls(DanceModel.from_pretrained(model_dir, device=device))

    def _autocast(self):
        if self.model.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- step 1 -----------------------------------------------------------------------------
    def conditions(self, n: int, *, genre=None, text=None, music=None, constraints=None, beats=None) -> Conditions:
        """beats: the grid of the rhythm channels (s from the first frame; default the beat
        column of `music`, read before padding so padded frames add no beats)."""
        dev, frames = self.model.device, n * TOKEN_DOWNSAMPLE
        text_emb = self.model.text_embedding(self.model.prompt(genre, text))
        music_t = None
        if music is not None:
            music = np.asarray(music, dtype=np.float32)
            if music.ndim != 2 or music.shape[1] != MUSIC_FEATURE_DIM:
                raise DanceMosaicError(f"music features have shape {music.shape}; expected (frames, "
                                       f"{MUSIC_FEATURE_DIM}) from dancemosaic_core.audio.music_features")
            if not np.isfinite(music).all():
                raise DanceMosaicError("music features contain NaN or infinite values; check the audio file")
            beats = beat_times(music) if beats is None else beats
            music_t = torch.as_tensor(music_condition(_pad_frames(music, frames), beats=beats), device=dev)[None]
        pose = weight = None
        if constraints is not None and len(constraints):
            P, W = constraints.dense(frames, MOTION_FPS, strict=False)
            pose, weight = torch.as_tensor(P, device=dev)[None], torch.as_tensor(W, device=dev)[None]
        return Conditions(text_emb, music_t, pose, weight)

    # --- step 2 -----------------------------------------------------------------------------
    def branches(self, cond: Conditions, weights: GuidanceWeights) -> tuple[str, ...]:
        """The guidance branches this model runs for these conditions, unconditional first."""
        available = {"text"}
        if cond.music is not None and self.model.has_music:
            available.add("music")
        if cond.pose is not None and self.model.has_pose:
            available.add("pose")
        return branch_plan(weights, available)

    def guided_logits_fn(self, cond: Conditions, weights: GuidanceWeights, prior: torch.Tensor | None = None):
        """ids (B, n) -> guided logits (B, n, K): every branch in ONE batched forward (the batch
        tiled once per branch, as guidance.mix_logits reads it)."""
        plan = self.branches(cond, weights)
        k = len(plan)
        on = {name: torch.tensor([b == name for b in plan], device=self.model.device).repeat_interleave(cond.batch)
              for name in ("text", "music", "pose")}
        kwargs = {"text_on": on["text"]}
        if cond.music is not None:          # the base prior's own beat-grid input, in every branch
            kwargs.update(rhythm=cond.music[..., MUSIC_FEATURE_DIM:].repeat(k, 1, 1))
        if "music" in plan:
            kwargs.update(music=cond.music.repeat(k, 1, 1), music_on=on["music"])
        if "pose" in plan:
            kwargs.update(pose=cond.pose.repeat(k, 1, 1, 1), pose_valid=(cond.pose_weight > 0).repeat(k, 1, 1),
                          pose_on=on["pose"])
        text = cond.text_emb.repeat(k, 1)

        def fn(ids: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), self._autocast():
                logits = self.model.multi_tower(ids.repeat(k, 1), text, **kwargs).float()
            mixed = mix_logits(logits, plan, weights)
            return mixed if prior is None else mixed + prior
        return fn

    # --- step 3 -----------------------------------------------------------------------------
    def residual_logits_fn(self, cond: Conditions, weights: GuidanceWeights):
        text_on = torch.tensor([False, True], device=self.model.device).repeat_interleave(cond.batch)
        text = cond.text_emb.repeat(2, 1)

        def fn(ids: torch.Tensor, q: int) -> torch.Tensor:
            with torch.inference_mode(), self._autocast():
                logits = self.model.t2m.residual(ids.repeat(2, 1, 1), q, text, text_on=text_on).float()
            return mix_logits(logits, ("uncond", "text"), GuidanceWeights(text=weights.text, music=0, pose=0))
        return fn

    def _decode_tokens(self, n, cond, weights, *, steps, temperature, top_k, generator, fixed_ids, fixed_mask,
                       prior=None) -> torch.Tensor:
        base_fixed = None if fixed_ids is None else fixed_ids[..., 0]
        base = masked_decode(self.guided_logits_fn(cond, weights, prior), batch=cond.batch, length=n,
                             mask_id=self.model.multi_tower.mask_id, steps=steps, fixed_ids=base_fixed,
                             fixed_mask=fixed_mask, temperature=temperature, top_k=top_k,
                             generator=generator, device=self.model.device)
        return residual_decode(self.residual_logits_fn(cond, weights), base, num_quantizers=self.model.num_quantizers,
                               fixed_ids=fixed_ids, fixed_mask=fixed_mask, temperature=temperature,
                               top_k=top_k, generator=generator)

    def sample_windows(self, *, frames: int, music: list[np.ndarray | None], genre: str | None = None,
                       text: str | None = None, weights: GuidanceWeights = GuidanceWeights(), steps: int = 10,
                       temperature: float = 1.0, top_k: int | None = None, seeds: list[int],
                       fixed_ids: torch.Tensor | None = None, fixed_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Steps 1-3 for a batch of windows of `frames` frames each (no pose constraints, no
        ITTO), in one batched forward per decoding step: token ids (B, n, Q). music[i] and
        seeds[i] are window i's; each window samples from its own generator, so it gets the
        tokens `__call__` gives it with its seed, whatever it is batched with. fixed_ids
        (B, n, Q) / fixed_mask (B, n) as in `__call__`."""
        if len(music) != len(seeds) or not seeds:
            raise DanceMosaicError(f"sample_windows needs one seed per window: {len(music)} windows, {len(seeds)} seeds")
        n = math.ceil(frames / TOKEN_DOWNSAMPLE)
        if not 1 <= n <= self.model.max_tokens:
            raise DanceMosaicError(f"{frames} frames: a window holds {TOKEN_DOWNSAMPLE} to "
                                   f"{self.model.max_tokens * TOKEN_DOWNSAMPLE} frames")
        cond = Conditions.cat([self.conditions(n, genre=genre, text=text, music=m) for m in music])
        generators = [torch.Generator(device=self.model.device).manual_seed(int(s)) for s in seeds]
        return self._decode_tokens(n, cond, weights, steps=steps, temperature=temperature, top_k=top_k,
                                   generator=generators, fixed_ids=fixed_ids, fixed_mask=fixed_mask)

    # --- the pipeline -----------------------------------------------------------------------
    def __call__(self, *, frames: int, genre: str | None = None, text: str | None = None,
                 music: np.ndarray | None = None, constraints: PoseConstraints | None = None,
                 weights: GuidanceWeights = GuidanceWeights(), steps: int = 10, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0, fixed_ids: torch.Tensor | None = None,
                 fixed_mask: torch.Tensor | None = None, joint_limit_fn=None, itto_steps: int = 50,
                 itto_lr: float = 0.05, itto_output: str = "auto", beats: np.ndarray | None = None,
                 rhythm_weight: float = 0.0, energy_floor: float | None = None, energy_weight: float = 1.0,
                 foot_weight: float = 0.0, itto_deadline: float | None = None, itto_min_steps: int = 1) -> DanceOutput:
        """One window of `frames` motion frames (at most the model's max_tokens: use
        inference.long.generate_long for whole songs). fixed_ids (1, n, Q) / fixed_mask (1, n)
        keep tokens (editing, inpainting, continuation). beats: the music's beat times in
        seconds from the window's first frame (default: the beat column of `music`); with
        rhythm_weight > 0 ITTO aligns the motion's
        speed dips to them, keeping at least max(energy_floor, the motion's own) mean joint
        speed (m/s), held with energy_weight; energy_floor None: the training corpus's speed for
        the genre (DanceModel.corpus_dance_speed); foot_weight holds the feet planted where the
        sampled motion plants them (motion/rhythm.py, L_foot). itto_deadline: a time.perf_counter()
        value after which ITTO takes no further step once itto_min_steps are taken (live budgets;
        out.info["itto_steps"] says how many ran). itto_output: "tokens" decodes the re-sampled tokens (the paper's route);
        "embeddings" decodes the optimised continuous embeddings themselves (what ITTO reached,
        off the codebook; ids are their nearest codes); "auto" is "embeddings" when the rhythm term is on, else "tokens"."""
        if itto_output not in ("tokens", "embeddings", "auto"):
            raise DanceMosaicError(f"itto_output must be 'tokens', 'embeddings' or 'auto', got {itto_output!r}")
        energy_floor = self.energy_floor(genre, energy_floor)
        for name, value in (("rhythm_weight", rhythm_weight), ("energy_weight", energy_weight),
                            ("foot_weight", foot_weight)):
            if not (np.isfinite(value) and 0.0 <= value <= 100.0):
                raise DanceMosaicError(f"{name} must be a number in [0, 100], got {value}")
        if frames < TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"a dance needs at least {TOKEN_DOWNSAMPLE} frames; got {frames}")
        n = math.ceil(frames / TOKEN_DOWNSAMPLE)
        if n > self.model.max_tokens:
            raise DanceMosaicError(f"{frames} frames is longer than one window ({self.model.max_tokens * TOKEN_DOWNSAMPLE}); "
                                   "use dancemosaic_core.inference.long.generate_long")
        generator = torch.Generator(device=self.model.device).manual_seed(int(seed))
        decode_kw = dict(steps=steps, temperature=temperature, top_k=top_k, generator=generator,
                         fixed_ids=fixed_ids, fixed_mask=fixed_mask)
        # 1. conditions
        if beats is None and music is not None:
            beats = beat_times(music)
        cond = self.conditions(n, genre=genre, text=text, music=music, constraints=constraints, beats=beats)
        # 2.-3. base tokens with multimodal guidance, then the residual layers
        ids = self._decode_tokens(n, cond, weights, **decode_kw)
        out = DanceOutput(joints=np.zeros(0), ids=ids[0], info={"branches": list(self.branches(cond, weights))})
        # 4. ITTO on the token embeddings, then re-weighted sampling
        z0 = self.model.tokenizer.embed(ids)
        rhythm = (self.rhythm_target(z0, beats, rhythm_weight, energy_floor, energy_weight, foot_weight)
                  if rhythm_weight > 0 and itto_steps > 0 else None)
        if itto_output == "auto":
            itto_output = "embeddings" if rhythm is not None else "tokens"
        z_opt = itto_joints = None
        if (cond.pose is not None or joint_limit_fn is not None or rhythm is not None) and itto_steps > 0:
            ids, z_opt, itto_joints = self._itto(ids, z0, cond, weights, out, joint_limit_fn, rhythm, fixed_mask,
                                                 itto_steps, itto_lr, decode_kw, resample=itto_output == "tokens",
                                                 deadline=itto_deadline, min_steps=itto_min_steps)
        # 5. decode
        out.ids = ids[0]
        if out.itto is not None:
            out.itto.frames = frames
        if itto_output == "embeddings" and z_opt is not None:
            out.joints = itto_joints[0, :frames].cpu().numpy().astype(np.float32)
        else:
            out.joints = self.model.joints_from_ids(ids)[0, :frames].astype(np.float32)
        if cond.pose is not None:
            final = torch.as_tensor(out.joints, device=self.model.device)[None]
            out.constraint_error_after = float(constraint_error(final, cond.pose[:, :frames], cond.pose_weight[:, :frames]))
        return out

    def energy_floor(self, genre: str | None, energy_floor: float | None = None) -> float:
        """The energy floor (m/s) beat-aware ITTO keeps: `energy_floor`, or with None the training
        corpus's dance speed for the genre (0 without motion_stats.json: the motion's own)."""
        floor = self.model.corpus_dance_speed(genre) if energy_floor is None else energy_floor
        if not (np.isfinite(floor) and 0.0 <= floor <= MAX_ENERGY_FLOOR):
            raise DanceMosaicError(f"energy_floor must be a speed in [0, {MAX_ENERGY_FLOOR:g}] m/s, got {floor}")
        return float(floor)

    def rhythm_target(self, z: torch.Tensor, beats, weight: float, energy_floor: float, energy_weight: float = 1.0,
                      foot_weight: float = 0.0):
        """The rhythm term for the token embeddings z (1, n, d) on beat grid `beats` (s from
        z's first frame), or None when the grid has fewer than two beats. The energy floor is
        at least the decoded motion's own mean joint speed: alignment never slows the dance."""
        if beats is None:
            return None
        frames = z.shape[1] * TOKEN_DOWNSAMPLE
        with torch.no_grad():
            joints = self.model.joints_from_embeddings(z)
            own = mean_joint_speed(joints, MOTION_FPS).mean()
            planted = planted_feet(joints, MOTION_FPS) if foot_weight > 0 else None
        return rhythm_target(beats, frames, MOTION_FPS, energy_floor=max(float(own), energy_floor),
                             weight=weight, energy_weight=energy_weight, planted=planted,
                             foot_weight=foot_weight, device=self.model.device)

    def _itto(self, ids, z0, cond, weights, out: DanceOutput, limit_fn, rhythm, frozen, steps, lr, decode_kw,
              resample: bool = True, deadline: float | None = None, min_steps: int = 1):
        problem = dict(target=cond.pose, valid=cond.pose_weight, limit_fn=limit_fn, frozen=frozen, lr=lr)
        res = optimize_tokens(z0, self.model.joints_from_embeddings, rhythm=rhythm, steps=steps, deadline=deadline,
                              min_steps=min_steps, **problem)
        self._record_itto(out, res, rhythm, cond.pose is not None)
        out.info["itto_steps"] = res.steps
        if not resample:
            # The motion is decoded from the optimised embeddings themselves; its tokens (the
            # streaming context of the next chunk, the saved ids) are their nearest codes, so
            # the tokens decode to what was emitted. Kept tokens keep their ids.
            out.itto = ITTOContinuation(res.embeddings, res.state, z0.shape[1] * TOKEN_DOWNSAMPLE, ids, rhythm, problem)
            return self._nearest_ids(res.embeddings, ids, frozen), res.embeddings, res.joints
        # The optimised embedding minus the residual layers' codes is where the base code
        # should be: its distances to the base codebook, scaled by the typical nearest-code
        # distance, are a log-prior added to the guided logits when sampling again.
        residual = self.model.tokenizer.get_codes_from_indices(ids)[..., 1:, :].sum(-2)
        target = res.embeddings - residual
        d2 = -code_logits(target, self.model.tokenizer.codebook(0).float())
        scale = d2.min(-1).values.median().clamp(min=1e-6)
        prior = -(d2 - d2.min(-1, keepdim=True).values) / (2 * scale)
        return self._decode_tokens(ids.shape[1], cond, weights, prior=prior, **decode_kw), res.embeddings, res.joints

    def _nearest_ids(self, z: torch.Tensor, ids: torch.Tensor, frozen: torch.Tensor | None) -> torch.Tensor:
        near = self.model.tokenizer.quantize(z)
        return near if frozen is None else torch.where(frozen[..., None], ids, near)

    @staticmethod
    def _record_itto(out: DanceOutput, res, rhythm, constrained: bool) -> None:
        if constrained:
            out.constraint_error_before = float(res.error_before[0])
            out.constraint_error_itto = float(res.error_after[0])
        out.limit_before, out.limit_after = float(res.limit_before[0]), float(res.limit_after[0])
        if rhythm is not None:
            out.rhythm_before, out.rhythm_after = float(res.rhythm_before[0]), float(res.rhythm_after[0])

    def refine(self, draft: DanceOutput, *, steps: int, beats: np.ndarray | None = None) -> DanceOutput:
        """Continue a window's ITTO for `steps` more Adam steps (its moments carried over),
        with the rhythm term moved to a new beat grid `beats` (s from the window's first frame;
        None: the draft's). The streaming generator drafts a chunk ahead of its music and
        refines it on the newest grid just before it is due. Needs a draft whose motion is its
        optimised embeddings (beat-aware ITTO, itto_output "embeddings")."""
        cont = draft.itto
        if cont is None:
            raise DanceMosaicError("refine needs a window decoded from ITTO's embeddings (a beat grid and "
                                   "itto_steps > 0); this one has none")
        if not 0 <= int(steps) <= 1000:
            raise DanceMosaicError(f"refine steps must be 0..1000, got {steps}")
        if int(steps) == 0:
            return draft
        rhythm = cont.rhythm
        if beats is not None and rhythm is not None:
            phase = beat_phase(np.asarray(beats, dtype=np.float64), rhythm.phase.shape[-1], MOTION_FPS)
            if phase is not None:
                rhythm = replace(rhythm, phase=torch.as_tensor(phase, dtype=torch.float32, device=self.model.device)[None])
        res = optimize_tokens(cont.embeddings, self.model.joints_from_embeddings, rhythm=rhythm, steps=int(steps),
                              state=cont.state, **cont.problem)
        out = DanceOutput(joints=res.joints[0, :cont.frames].cpu().numpy().astype(np.float32),
                          ids=self._nearest_ids(res.embeddings, cont.ids, cont.problem["frozen"])[0],
                          info=dict(draft.info, refine_steps=int(steps)),
                          itto=replace(cont, embeddings=res.embeddings, state=res.state, rhythm=rhythm))
        self._record_itto(out, res, rhythm, cont.problem["target"] is not None)
        if cont.problem["target"] is not None:
            final = res.joints[:, :cont.frames]
            out.constraint_error_after = float(constraint_error(final, cont.problem["target"][:, :cont.frames],
                                                                cont.problem["valid"][:, :cont.frames]))
        return out


def music_features_for(wave: np.ndarray, sr: int, frames: int | None = None) -> np.ndarray:
    """(frames, 35) music features at the motion rate for a whole recording."""
    from dancemosaic_core.audio.features import music_features
    feats = music_features(wave, sr, fps=MOTION_FPS)
    return feats if frames is None else _pad_frames(feats, frames)


__all__ = ["DancePipeline", "DanceOutput", "Conditions", "music_features_for"]
