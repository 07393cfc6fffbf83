"""`dancemosaic generate`: a dance for a song (whole songs by long-dance segments), with pose
constraints, body-part editing (`--edit upper|lower|joints --reference r.npz`) and temporal
inpainting (`--inpaint a:b --reference r.npz`)."""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.itto import BEAT_ITTO, OFFLINE_DECODE_STEPS
from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
from dancemosaic_core.motion.skeleton import (
    JOINT_NAMES,
    MOTION_FPS,
    TOKEN_DOWNSAMPLE,
    joint_ids,
)
from dancemosaic_core.eval.controls import MUSIC_CONTROLS

LONGEST_SONG_SECONDS = 2 * 60 * 60
MAX_STEPS = 100                  # masked-decoding iterations
MAX_ITTO_STEPS = 10000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a dance for music (genre/text prompt, constraints, editing)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--music", help="audio file (wav, flac, ogg, mp3); omit for text-only motion")
    p.add_argument("--genre", help="dance genre (the model's list is shown for an unknown one)")
    p.add_argument("--text", help="free text prompt (overrides the genre prompt)")
    p.add_argument("--seconds", type=float, help="length (default: the whole song, or 8 s without music)")
    p.add_argument("--out", required=True, help="output motion .npz (a directory with --dataset)")
    p.add_argument("--dataset", help="joints dataset (e.g. the bootstrap corpus): one dance per item of --split, "
                                     "on the item's music and genre, written to the --out directory")
    p.add_argument("--split", default="test", help="with --dataset: the split (default test)")
    p.add_argument("--every", type=int, default=1,
                   help="with --dataset: every N-th item of the split (a smaller set on a slow machine)")
    p.add_argument("--music-control", choices=MUSIC_CONTROLS, default="none",
                   help="with --dataset: condition each dance on controlled music but record its own music "
                        "(the truth it is scored on): shuffled = another item's music, half-beat-delay = its "
                        "own music half a beat later, other-tempo = another song at a tempo >10%% away")
    p.add_argument("--shuffle-music", dest="music_control", action="store_const", const="shuffled",
                   help="the same as --music-control shuffled")
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model directory (tokenizer/ t2m/ music/ pose/)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (bf16 on GPU)")
    p.add_argument("--constraints", help="pose constraints JSON (see inference/constraints.py)")
    p.add_argument("--edit", help="keep a body part of --reference and regenerate the rest: upper | lower | joints")
    p.add_argument("--joints", help="with --edit joints: comma-separated joint names to keep")
    p.add_argument("--reference", help="reference motion .npz for --edit / --inpaint")
    p.add_argument("--inpaint", help="regenerate the span a:b (seconds) of --reference, keep the rest")
    p.add_argument("--w-text", type=float, default=4.0, help="text guidance weight w_T")
    p.add_argument("--w-music", type=float, default=1.0, help="music guidance weight w_A (paper table 5: 1)")
    p.add_argument("--w-pose", type=float, default=1.0, help="pose guidance weight w_P")
    p.add_argument("--steps", type=int, default=OFFLINE_DECODE_STEPS,
                   help="masked decoding iterations T (the paper's is 10; inference.itto.OFFLINE_DECODE_STEPS)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--itto-steps", type=int, default=BEAT_ITTO["itto_steps"],
                   help="ITTO gradient steps (constraints, joint limits, rhythm)")
    p.add_argument("--itto-lr", type=float, default=BEAT_ITTO["itto_lr"], help="ITTO learning rate (Adam)")
    p.add_argument("--itto-output", choices=("auto", "tokens", "embeddings"), default="auto",
                   help="tokens: re-sampled tokens (paper); embeddings: the optimised embeddings decoded "
                        "directly, so constraints are met as closely as ITTO reached; auto (default): "
                        "embeddings with the rhythm term, tokens otherwise")
    p.add_argument("--rhythm-weight", type=float, default=BEAT_ITTO["rhythm_weight"],
                   help="beat-aware ITTO: weight of the term that puts the motion's speed dips on the music's "
                        "beats (0 = off, the paper's method alone)")
    p.add_argument("--energy-floor", type=float, default=None,
                   help="with the rhythm term: keep the mean joint speed at least this many m/s (default: the "
                        "training corpus's dance speed for the genre, from the model's motion_stats.json)")
    p.add_argument("--energy-weight", type=float, default=BEAT_ITTO["energy_weight"],
                   help="with the rhythm term: how hard the energy floor is held")
    p.add_argument("--foot-weight", type=float, default=BEAT_ITTO["foot_weight"],
                   help="with the rhythm term: how hard the feet the sampled dance plants stay planted (0 = free)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _load_music(path: str | None, seconds: float | None):
    from dancemosaic_core.audio.io import is_silent, load_audio
    from dancemosaic_core.inference.pipeline import music_features_for
    if path is None:
        return None, seconds or 8.0
    wave, sr = load_audio(path)
    duration = len(wave) / sr
    if duration > LONGEST_SONG_SECONDS:
        raise DanceMosaicError(f"{path} is {duration / 60:.0f} min long; cut it below "
                               f"{LONGEST_SONG_SECONDS // 60} min or pass a shorter file")
    if is_silent(wave):
        print(f"dancemosaic generate: warning: {path} is silent; the dance follows the prompt only",
              file=sys.stderr)
    if seconds is not None and seconds > duration + 1e-6:
        raise DanceMosaicError(f"--seconds {seconds:g} is longer than the song ({duration:.2f} s); "
                               "omit --seconds to dance the whole song")
    seconds = seconds or duration
    return music_features_for(wave, sr, max(TOKEN_DOWNSAMPLE, int(round(seconds * MOTION_FPS)))), seconds


def _reference(args):
    from dancemosaic_core.motion.io import load_motion
    from dancemosaic_core.motion.representation import joints_to_features
    if not args.reference:
        raise DanceMosaicError("--edit and --inpaint need --reference r.npz (the motion to edit)")
    ref = load_motion(args.reference)
    _, frame = joints_to_features(ref.joints.astype(np.float64), return_frame=True)
    return ref, frame


def _edit_constraints(args, ref_decode: np.ndarray):
    from dancemosaic_core.inference.constraints import PoseConstraints
    if args.edit in ("upper", "lower"):
        keep = joint_ids(args.edit)
    elif args.edit == "joints":
        if not args.joints:
            raise DanceMosaicError("--edit joints needs --joints a,b,c (names: " + ", ".join(JOINT_NAMES) + ")")
        try:
            keep = joint_ids([j.strip() for j in args.joints.split(",")])
        except ValueError as exc:
            raise DanceMosaicError(str(exc)) from None
    else:
        raise DanceMosaicError(f"--edit {args.edit!r}: use upper, lower or joints")
    return PoseConstraints.from_motion(ref_decode, [JOINT_NAMES[j] for j in keep])


def _inpaint_mask(span: str, n: int):
    import torch
    try:
        a, b = (float(x) for x in span.split(":"))
    except ValueError:
        raise DanceMosaicError(f"--inpaint {span!r}: give the span as START:END in seconds, e.g. 2.0:4.5") from None
    ta, tb = int(np.floor(a * MOTION_FPS / TOKEN_DOWNSAMPLE)), int(np.ceil(b * MOTION_FPS / TOKEN_DOWNSAMPLE))
    if not (0 <= ta < tb <= n):
        raise DanceMosaicError(f"--inpaint {span}: the span must lie inside the reference (0 to "
                               f"{n * TOKEN_DOWNSAMPLE / MOTION_FPS:.2f} s) with START < END")
    fixed = torch.ones(1, n, dtype=torch.bool)
    fixed[0, ta:tb] = False
    return fixed


def check_arguments(args) -> None:
    """Every number and file the command needs, checked before the model loads (seconds)."""
    def bad(flag, value, allowed):
        raise DanceMosaicError(f"{flag} {value}: give {allowed}")
    if args.seconds is not None and not (math.isfinite(args.seconds) and 0 < args.seconds <= LONGEST_SONG_SECONDS):
        bad("--seconds", args.seconds, f"a length in seconds, > 0 and <= {LONGEST_SONG_SECONDS}")
    if not 1 <= args.steps <= MAX_STEPS:
        bad("--steps", args.steps, f"an integer in 1..{MAX_STEPS}")
    if not 0 <= args.itto_steps <= MAX_ITTO_STEPS:
        bad("--itto-steps", args.itto_steps, f"an integer in 0..{MAX_ITTO_STEPS}")
    if not (math.isfinite(args.temperature) and 0 < args.temperature <= 100):
        bad("--temperature", args.temperature, "a number > 0 and <= 100")
    if args.top_k is not None and args.top_k < 1:
        bad("--top-k", args.top_k, "an integer >= 1")
    _guidance_kwargs(args)                   # guidance, rhythm and energy weights in their ranges
    for flag, path in (("--music", args.music), ("--reference", args.reference), ("--constraints", args.constraints)):
        if path is not None and not Path(path).is_file():
            raise DanceMosaicError(f"{flag} {path}: no such file")


def _constraints_within(constraints, seconds: float):
    """Refuse constraints after the dance's end: they would be dropped silently."""
    if constraints is not None and len(constraints) and constraints.times.max() >= seconds:
        raise DanceMosaicError(f"a pose constraint at {constraints.times.max():g} s lies past the end of the dance "
                               f"({seconds:g} s); move it earlier or dance longer (--seconds)")
    return constraints


def run(args) -> int:
    from dancemosaic_core.inference.constraints import PoseConstraints
    from dancemosaic_core.inference.long import generate_long
    from dancemosaic_core.inference.pipeline import DancePipeline
    from dancemosaic_core.motion.io import Motion, save_motion

    check_arguments(args)
    constraints = PoseConstraints.load(args.constraints) if args.constraints else None
    if not (args.dataset or args.edit or args.inpaint):
        music, seconds = _load_music(args.music, args.seconds)
        constraints = _constraints_within(constraints, seconds)
    pipe = DancePipeline.from_pretrained(args.model, device=args.device)
    if args.dataset:
        return run_dataset(args, pipe)
    prompt = pipe.model.prompt(args.genre, args.text)        # unknown genres fail here, listing the valid ones
    kw = dict(genre=args.genre, text=args.text, seed=args.seed, **_guidance_kwargs(args))
    to_world = None
    if args.edit or args.inpaint:
        ref, frame = _reference(args)
        ref_decode = frame.apply(ref.joints)[: len(ref.joints) - 1]
        frames = len(ref_decode) // TOKEN_DOWNSAMPLE * TOKEN_DOWNSAMPLE
        if frames > pipe.model.max_tokens * TOKEN_DOWNSAMPLE:
            raise DanceMosaicError(f"--reference is {frames / MOTION_FPS:.1f} s; editing works on one window "
                                   f"({pipe.model.max_tokens * TOKEN_DOWNSAMPLE / MOTION_FPS:.1f} s): cut the reference first")
        music, _ = _load_music(args.music or ref.music or None, frames / MOTION_FPS)
        constraints = _constraints_within(constraints, frames / MOTION_FPS)
        if args.edit:
            extra = _edit_constraints(args, ref_decode[:frames])
            constraints = extra if constraints is None else PoseConstraints(
                np.r_[constraints.times, extra.times], constraints.joints + extra.joints,
                np.r_[constraints.positions, extra.positions], np.r_[constraints.weights, extra.weights])
        if args.inpaint:
            ids = pipe.model.encode_joints(ref.joints)
            kw.update(fixed_ids=ids, fixed_mask=_inpaint_mask(args.inpaint, ids.shape[1]).to(ids.device))
            frames = ids.shape[1] * TOKEN_DOWNSAMPLE
        out = pipe(frames=frames, music=music, constraints=constraints, **kw)
        to_world = frame.invert
    else:
        frames = max(TOKEN_DOWNSAMPLE, int(round(seconds * MOTION_FPS)))
        with _progress_bar() as progress:
            out = generate_long(pipe, frames=frames, music=music, constraints=constraints, progress=progress, **kw)
    joints = to_world(out.joints) if to_world else out.joints
    extra = {"tokens": out.ids.cpu().numpy()}
    save_motion(args.out, Motion(joints=joints.astype(np.float32), fps=MOTION_FPS, music=str(args.music or ""),
                                 genre=args.genre or "", text=prompt, extra=extra))
    report = [f"wrote {args.out}: {len(joints) / MOTION_FPS:.1f} s, {len(joints)} frames at {MOTION_FPS} fps"]
    if out.constraint_error_before is not None:
        report.append(f"constraint error D (eq. 5): before ITTO {out.constraint_error_before:.5f} m^2, "
                      f"after ITTO {out.constraint_error_itto:.5f}, final motion ({args.itto_output}) "
                      f"{out.constraint_error_after:.5f}")
    if out.rhythm_before is not None:
        report.append(f"beat-aware ITTO objective (w_R L_rhythm + w_E L_energy + w_F L_foot; L_rhythm is 0 with "
                      f"speed dips on every beat, 2 between beats): {out.rhythm_before:.3f} before, "
                      f"{out.rhythm_after:.3f} after")
    print("\n".join(report))
    return 0


@contextlib.contextmanager
def _progress_bar():
    """progress(done, total) for generate_long, drawn on stderr (whole songs take a while)."""
    from tqdm import tqdm
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="generate", unit="window", dynamic_ncols=True, file=sys.stderr)
        bar.n = done
        bar.refresh()
    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def _guidance_kwargs(args) -> dict:
    from dancemosaic_core.inference.guidance import GuidanceWeights
    from dancemosaic_core.inference.pipeline import MAX_ENERGY_FLOOR
    checks = [("--rhythm-weight", args.rhythm_weight, 100.0), ("--energy-weight", args.energy_weight, 100.0),
              ("--foot-weight", args.foot_weight, 100.0), ("--itto-lr", args.itto_lr, 10.0)]
    if args.energy_floor is not None:
        checks.append(("--energy-floor", args.energy_floor, MAX_ENERGY_FLOOR))
    for flag, value, top in checks:
        if not (np.isfinite(value) and 0.0 <= value <= top):
            raise DanceMosaicError(f"{flag} {value}: give a number in [0, {top:g}]")
    return dict(steps=args.steps, temperature=args.temperature, top_k=args.top_k, itto_steps=args.itto_steps,
                itto_lr=args.itto_lr, itto_output=args.itto_output, rhythm_weight=args.rhythm_weight,
                energy_floor=args.energy_floor, energy_weight=args.energy_weight, foot_weight=args.foot_weight,
                weights=GuidanceWeights(text=args.w_text, music=args.w_music, pose=args.w_pose))


def run_dataset(args, pipe) -> int:
    """One dance per dataset item with music: the generated set of `dancemosaic eval`."""
    from tqdm import tqdm

    from dancemosaic_core.audio.io import load_audio
    from dancemosaic_core.data.loaders import JointsDataset
    from dancemosaic_core.eval.controls import MusicControl, song_of
    from dancemosaic_core.inference.long import generate_long
    from dancemosaic_core.inference.pipeline import music_features_for
    from dancemosaic_core.motion.io import Motion, save_motion

    ds = JointsDataset(args.dataset)
    genres = ds.genres()
    items = [e.id for e in ds.entries() if e.split == args.split and (ds.root / "music" / f"{e.id}.wav").is_file()]
    if not 1 <= args.every <= 10_000:
        raise DanceMosaicError(f"--every {args.every}: give an integer from 1 to 10000")
    items = items[::args.every]
    if len(items) < (2 if args.music_control in ("shuffled", "other-tempo") else 1):
        raise DanceMosaicError(f"{args.dataset} has {len(items)} items with music in split {args.split!r}; "
                               "check the split name and the music/ folder")
    control = MusicControl(args.music_control, [ds.root / "music" / f"{item}.wav" for item in items],
                           seed=args.seed, groups=[song_of(item) for item in items])
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, item in enumerate(tqdm(items, desc="generate", dynamic_ncols=True)):
        own = ds.root / "music" / f"{item}.wav"
        wave, sr = load_audio(own)
        frames = int(len(wave) / sr * MOTION_FPS)
        heard = control.music(i)
        music = music_features_for(heard.wave, heard.sr, frames)
        genre = args.genre or genres.get(item) or None
        out = generate_long(pipe, frames=frames, music=music, genre=genre, text=args.text, seed=args.seed + i,
                            **_guidance_kwargs(args))
        save_motion(out_dir / f"{item}.npz", Motion(joints=out.joints, fps=MOTION_FPS, music=str(own.resolve()),
                                                    genre=genre or "", text=pipe.model.prompt(genre, args.text),
                                                    extra={"tokens": out.ids.cpu().numpy(),
                                                           "music_source": np.str_(items[heard.source]),
                                                           "music_delay_s": np.float32(heard.delay_s)}))
    control_note = "" if args.music_control == "none" else f" ({args.music_control} music)"
    print(f"wrote {len(items)} dances to {out_dir}{control_note}")
    return 0
