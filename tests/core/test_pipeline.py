"""Inference pipeline invariants on a tiny random model: fixed tokens stay, seeds reproduce,
ITTO lowers the constraint error, long dances keep segment tokens away from seams, and the
streaming dancer's chunks are contiguous and join without a jump."""
import json

import numpy as np
import pytest
import torch

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.constraints import PoseConstraints
from dancemosaic_core.inference.long import generate_long
from dancemosaic_core.inference.streaming import (
    LEAD_MARGIN_S,
    LEAD_SAFETY,
    MAX_LEAD_S,
    StreamingDancer,
    YawShift,
    fit_yaw_shift,
    lead_for,
)


def stream(dancer, wave, block: int) -> list:
    """Push `wave` in blocks of `block` samples, taking every chunk as soon as it is ready."""
    chunks = []
    for i in range(0, len(wave), block):
        dancer.push_audio(wave[i:i + block])
        while dancer.ready():
            chunks.append(dancer.next_chunk())
    return chunks


def music(frames, seed=0):
    return np.random.default_rng(seed).normal(size=(frames, 35)).astype(np.float32)


def test_shapes_seed_and_guidance_branches(pipe):
    a = pipe(frames=42, genre="Jazz", music=music(42), seed=3)
    b = pipe(frames=42, genre="Jazz", music=music(42), seed=3)
    c = pipe(frames=42, genre="Jazz", music=music(42), seed=4)
    assert a.joints.shape == (42, 22, 3) and a.ids.shape == (11, 3)
    assert torch.equal(a.ids, b.ids) and not torch.equal(a.ids, c.ids)
    assert a.info["branches"] == ["uncond", "text", "music"]
    assert np.isfinite(a.joints).all()


def test_fixed_tokens_are_kept(pipe):
    ref = pipe(frames=40, genre="Jazz", seed=0)
    fixed = torch.zeros(1, 10, dtype=torch.bool)
    fixed[0, :4] = fixed[0, 8:] = True
    out = pipe(frames=40, genre="Jazz", seed=1, fixed_ids=ref.ids[None], fixed_mask=fixed)
    assert torch.equal(out.ids[fixed[0]], ref.ids[fixed[0]])
    assert not torch.equal(out.ids[~fixed[0]], ref.ids[~fixed[0]])


def test_itto_lowers_constraint_error(pipe):
    c = PoseConstraints([0.5, 1.0, 1.5], ["left_wrist", "pelvis", "right_ankle"],
                        [[0.3, 1.5, 0.2], [0.0, 0.9, 0.1], [-0.2, 0.05, 0.3]])
    out = pipe(frames=40, genre="Jazz", constraints=c, itto_steps=30, seed=0)
    assert out.constraint_error_itto < out.constraint_error_before
    assert "pose" in out.info["branches"]


def test_limit_term_is_lowered(pipe):
    limit = lambda j: torch.relu(j[..., 20, 1] - 0.5).pow(2).mean(-1)  # noqa: E731 left wrist below 0.5 m
    out = pipe(frames=40, genre="Jazz", joint_limit_fn=limit, itto_steps=30, seed=0)
    assert out.limit_after <= out.limit_before


def test_long_dance_keeps_segment_tokens_away_from_seams(pipe):
    m = music(400)
    long = generate_long(pipe, frames=400, music=m, genre="Jazz", window=20, transition=3, context=6, seed=7)
    first = pipe(frames=80, music=m[:80], genre="Jazz", seed=7)
    assert long.joints.shape == (400, 22, 3) and long.info["segments"] == 5
    assert torch.equal(long.ids[:17], first.ids[:17])     # the seam at token 20 rewrote 17..22 only


def test_a_batched_window_samples_what_it_samples_alone(pipe):
    # each window draws from its own seed: batching must not change its tokens (a branch tiled
    # in the wrong order, or a condition of another window, would)
    ms = [music(40, seed=s) for s in range(3)]
    ref = pipe(frames=40, genre="Jazz", music=ms[1], seed=11)
    fixed = torch.zeros(3, 10, dtype=torch.bool)
    fixed[:, :3] = True
    given = torch.stack([ref.ids] * 3)
    batch = pipe.sample_windows(frames=40, music=ms, genre="Jazz", seeds=[5, 11, 7])
    alone = [pipe.sample_windows(frames=40, music=[m], genre="Jazz", seeds=[s])[0] for m, s in zip(ms, [5, 11, 7])]
    assert batch.shape == (3, 10, 3)
    assert all(torch.equal(b, a) for b, a in zip(batch, alone))
    assert torch.equal(batch[1], ref.ids)                      # what the whole pipeline samples, too
    assert not torch.equal(batch[0], batch[2])
    kept = pipe.sample_windows(frames=40, music=ms, genre="Jazz", seeds=[1, 2, 3], fixed_ids=given, fixed_mask=fixed)
    assert torch.equal(kept[:, :3], given[:, :3])
    with pytest.raises(DanceMosaicError, match="one seed per window"):
        pipe.sample_windows(frames=40, music=ms, genre="Jazz", seeds=[1])


def test_long_dance_does_not_depend_on_the_sampling_batch(pipe, monkeypatch):
    import dancemosaic_core.inference.long as long_mod
    m = music(400)
    c = PoseConstraints([6.2], ["pelvis"], [[0.0, 0.9, 0.1]])       # one constrained window, ITTO'd alone
    runs = []
    for size in (1, 3):
        monkeypatch.setattr(long_mod, "SAMPLE_BATCH", size)
        runs.append(generate_long(pipe, frames=400, music=m, genre="Jazz", window=20, transition=3, context=6,
                                  constraints=c, itto_steps=5, seed=2))
    assert torch.equal(runs[0].ids, runs[1].ids) and np.array_equal(runs[0].joints, runs[1].joints)
    assert runs[0].constraint_error_after is not None


def test_yaw_shift_fit_recovers_a_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(10, 22, 3))
    true = YawShift(0.7, np.array([0.4, 0.0, -1.2]))
    fit = fit_yaw_shift(src, true.apply(src))
    assert abs(fit.yaw - 0.7) < 1e-9 and np.allclose(fit.shift, true.shift)
    assert np.allclose(true.invert(true.apply(src)), src)


def test_streaming_chunks_are_contiguous_and_continuous(model_dir):
    from dancemosaic_core.audio.synth import click_track
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", sample_rate=22050,
                                             chunk_seconds=1.0, context_seconds=1.0, start_seconds=1.0)
    wave, _ = click_track(120, 6.0, sr=22050)
    assert not dancer.ready()
    chunks = stream(dancer, wave, 2205)
    assert len(chunks) >= 4
    for a, b in zip(chunks, chunks[1:]):
        assert b.index == a.index + 1 and b.start_time == pytest.approx(a.end_time)
    allj = np.concatenate([c.joints for c in chunks])
    step = np.abs(np.diff(allj, axis=0)).max(axis=(1, 2))
    seams = np.cumsum([len(c.joints) for c in chunks])[:-1] - 1
    assert step[seams].max() <= 1.5 * np.delete(step, seams).max()


def test_streaming_takes_each_stream_at_its_own_sample_rate(model_dir):
    from dancemosaic_core.audio.synth import click_track
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz")
    heard = {}
    for rate in (44100, 16000):
        dancer.reset(sample_rate=rate)
        wave, _ = click_track(120, 2.0, sr=rate)
        dancer.push_audio(wave, sample_rate=rate)
        heard[rate] = dancer.seconds_heard
        with pytest.raises(DanceMosaicError, match="reset\\(sample_rate=48000\\)"):
            dancer.push_audio(wave, sample_rate=48000)
    # the streaming resampler holds back a few tens of milliseconds until more audio comes
    assert heard[44100] == pytest.approx(2.0, abs=0.1) and heard[16000] == pytest.approx(2.0, abs=0.1)


def test_streaming_rejects_bad_settings(model_dir):
    with pytest.raises(DanceMosaicError, match="unknown genre"):
        StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Polka")
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz")
    with pytest.raises(DanceMosaicError, match="finite"):
        dancer.set_weights(music=float("nan"))


def test_constraints_validation(tmp_path):
    with pytest.raises(DanceMosaicError, match="unknown joints"):
        PoseConstraints([0.1], ["left_hand_tip"], [[0, 1, 0]])
    with pytest.raises(DanceMosaicError, match="NaN"):
        PoseConstraints([0.1], ["pelvis"], [[0, np.nan, 0]])
    c = PoseConstraints([5.0], ["pelvis"], [[0, 1, 0]])
    with pytest.raises(DanceMosaicError, match="past the end"):
        c.dense(40)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"constraints": [{"frame": 10, "joint": "head", "position": [0, 1.7, 0]}]}))
    P, W = PoseConstraints.load(path).dense(20)
    assert W[10, 15] == 1 and P[10, 15, 1] == pytest.approx(1.7) and W.sum() == 1


def test_bench_generate_reports_speed_and_streaming(model_dir, tmp_path):
    from dancemosaic_core.cli import main
    out = tmp_path / "generate.json"
    assert main(["bench", "generate", "--model", str(model_dir), "--device", "cpu", "--runs", "1",
                 "--clip-seconds", "3", "--itto-steps", "2", "--chunks", "2", "--song-seconds", "30",
                 "--short-song-seconds", "4", "--out", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert res["seconds_per_clip"] > 0 and res["real_time_factor"] == pytest.approx(3 / res["seconds_per_clip"])
    assert res["streaming"]["chunks"] == 2 and res["streaming"]["median_compute_s"] > 0
    assert res["streaming"]["max_cycle_s"] > res["streaming"]["median_draft_s"] > 0
    short, song = res["whole_songs"]
    assert (short["song_seconds"], song["song_seconds"]) == (4, 30) and song["frames"] == 600
    assert song["real_time_factor"] == pytest.approx(30 / (song["features_s"] + song["generate_s"]))
    assert song["progress_reports"] > short["progress_reports"] > 0      # whole songs report progress
    assert song["peak_rss_mb_after"] >= short["peak_rss_mb_after"] > 0
    for bad in ("-1", "nan", "1e9"):
        assert main(["bench", "generate", "--model", str(model_dir), "--song-seconds", bad,
                     "--out", str(out)]) == 2


def test_streaming_warmup_leaves_a_fresh_state(model_dir):
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz")
    assert dancer.warmup() > 0
    assert dancer.index == 0 and dancer.seconds_heard == 0 and not dancer.ready()
    assert dancer.warm_compute_seconds == []          # one chunk: it paid the one-off costs, not timed
    dancer.warmup(chunks=4)
    assert len(dancer.warm_compute_seconds) == 3 and min(dancer.warm_compute_seconds) > 0
    assert dancer.index == 0 and dancer.seconds_heard == 0
    dancer.set_lead(lead_for(dancer.warm_compute_seconds))
    assert LEAD_MARGIN_S < dancer.lead_seconds <= MAX_LEAD_S
    with pytest.raises(DanceMosaicError, match="warm-up chunks"):
        dancer.warmup(chunks=0)
    with pytest.raises(DanceMosaicError, match="lead must be"):
        dancer.set_lead(float("nan"))


def test_warmup_does_not_time_the_first_optimised_chunk(model_dir, monkeypatch):
    # the first ITTO run pays one-off costs (torch's optimiser imports ~1.7 s); timed, it would
    # size the lookahead to its cap for the whole stream
    import time

    from dancemosaic_core.inference import streaming as streaming_mod
    real, runs = streaming_mod.DancePipeline.__call__, []

    def first_itto_slow(self, **kw):
        out = real(self, **kw)
        if out.info.get("itto_steps", 0) > 0 and not runs:
            runs.append(1)
            time.sleep(1.0)
        return out
    monkeypatch.setattr(streaming_mod.DancePipeline, "__call__", first_itto_slow)
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", itto_steps=3)
    dancer.warmup(chunks=4)
    assert runs and len(dancer.warm_compute_seconds) == 3
    assert max(dancer.warm_compute_seconds) < 0.4


def test_lead_is_the_slowest_compute_with_a_safety_factor_and_margin_up_to_a_bound():
    assert lead_for([0.1, 0.3, 0.2]) == pytest.approx(0.3 * LEAD_SAFETY + LEAD_MARGIN_S)
    assert lead_for([0.0]) == LEAD_MARGIN_S and lead_for([100.0]) == MAX_LEAD_S
    for bad in ([], [0.1, float("inf")], [-0.1]):
        with pytest.raises(DanceMosaicError, match="compute seconds"):
            lead_for(bad)


def test_itto_embeddings_output_keeps_the_optimised_error(pipe):
    c = PoseConstraints([0.5, 1.0], ["left_wrist", "pelvis"], [[0.3, 1.5, 0.2], [0.0, 0.9, 0.1]])
    out = pipe(frames=40, genre="Jazz", constraints=c, itto_steps=30, seed=0, itto_output="embeddings")
    assert out.constraint_error_after == pytest.approx(out.constraint_error_itto, rel=1e-3, abs=1e-6)
    assert out.constraint_error_after < out.constraint_error_before
    with pytest.raises(DanceMosaicError, match="itto_output"):
        pipe(frames=40, genre="Jazz", itto_output="both")



def test_embeddings_output_samples_once_and_returns_the_nearest_codes(pipe, monkeypatch):
    from dancemosaic_core.inference import pipeline as pipeline_module
    calls = []
    real = pipeline_module.masked_decode
    monkeypatch.setattr(pipeline_module, "masked_decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    c = PoseConstraints([0.5, 1.0], ["left_wrist", "pelvis"], [[0.3, 1.5, 0.2], [0.0, 0.9, 0.1]])
    ref = pipe(frames=40, genre="Jazz", seed=0, itto_steps=0)
    fixed = torch.zeros(1, 10, dtype=torch.bool)
    fixed[0, :4] = True
    tokenizer, quantized = pipe.model.tokenizer, []
    real_quantize = tokenizer.quantize
    monkeypatch.setattr(tokenizer, "quantize", lambda z: quantized.append((z, real_quantize(z))) or quantized[-1][1])
    calls.clear()
    out = pipe(frames=40, genre="Jazz", constraints=c, itto_steps=10, seed=1, itto_output="embeddings",
               fixed_ids=ref.ids[None], fixed_mask=fixed)
    assert len(calls) == 1                              # no second sampling pass whose tokens go unused
    assert torch.equal(out.ids[:4], ref.ids[:4])        # kept tokens keep their ids
    # the new tokens are the nearest codes of the embeddings the emitted motion is decoded from
    (z, near), = quantized
    assert torch.equal(out.ids[4:], near[0, 4:])
    with torch.no_grad():
        emitted = pipe.model.joints_from_embeddings(z)[0, :40].numpy()
    assert np.allclose(emitted, out.joints, atol=1e-5)
    calls.clear()
    pipe(frames=40, genre="Jazz", constraints=c, itto_steps=10, seed=1, itto_output="tokens")
    assert len(calls) == 2                              # the paper's route: re-weighted sampling

def test_constraints_window_keeps_and_retimes_the_span():
    c = PoseConstraints([0.5, 1.0, 2.0, 3.5], ["head", "pelvis", "left_wrist", "right_ankle"], np.eye(4, 3))
    w = c.window(1.0, 2.0)
    assert w.times.tolist() == [0.0, 1.0] and w.joints == ["pelvis", "left_wrist"]
    assert np.array_equal(w.positions, np.eye(4, 3)[1:3]) and len(c.window(4.0, 1.0)) == 0


@pytest.mark.parametrize("chunk_seconds, context_seconds", [(0.4, 2.0), (1.0, 2.4), (2.0, 0.4), (0.2, 0.2)])
def test_streaming_any_chunk_context_ratio(model_dir, chunk_seconds, context_seconds):
    """A chunk shorter than the context continues what the stream has so far (one chunk's
    tokens after the first), then the full context once enough is emitted."""
    from dancemosaic_core.audio.synth import click_track
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", sample_rate=22050,
                                             chunk_seconds=chunk_seconds, context_seconds=context_seconds,
                                             start_seconds=1.0, lead_seconds=0.2, itto_steps=2)
    wave, _ = click_track(120, 8.0, sr=22050)
    chunks = stream(dancer, wave, 1102)
    assert len(chunks) >= 3
    emitted = 0
    for a, b in zip(chunks, chunks[1:]):
        assert b.start_time == pytest.approx(a.end_time) and len(b.joints) == dancer.chunk_frames
    for c in chunks:
        assert c.info["context_tokens"] == min(dancer.context_tokens, emitted)
        assert np.isfinite(c.joints).all()
        emitted += dancer.chunk_tokens


def test_streaming_first_chunk_is_drafted_ahead_like_the_others(model_dir):
    # the first chunk starts one chunk after it is due (1 s heard + 0.5 s lead + 0.4 s): drafted
    # once 1 s is heard, refined when due; the later ones drafted right after the previous one
    from dancemosaic_core.audio.synth import click_track
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", sample_rate=22050,
                                             chunk_seconds=0.4, context_seconds=1.0, start_seconds=1.0,
                                             min_heard_seconds=1.0, lead_seconds=0.5, itto_steps=2, refine_steps=1)
    assert dancer.next_start_time == pytest.approx(2.0)           # 1.9 s up to the next token
    dancer.set_lead(0.0)
    assert dancer.next_start_time == pytest.approx(1.0)           # no lookahead: start_seconds
    dancer.set_lead(0.5)
    wave, _ = click_track(120, 4.0, sr=22050)
    chunks = []
    for i in range(0, len(wave), 1102):
        dancer.push_audio(wave[i:i + 1102])
        while dancer.ready():
            chunks.append(dancer.next_chunk())
        dancer.prepare()                                           # as the generator node does
    assert len(chunks) >= 3 and chunks[0].start_time == pytest.approx(2.0)
    assert all(c.info["drafted_ahead"] for c in chunks)
    dancer.set_lead(2.0)                                           # a running stream keeps its start
    assert chunks[1].start_time == pytest.approx(chunks[0].end_time)


def test_energy_floor_raises_the_speed_and_defaults_to_the_corpus(pipe):
    from dancemosaic_core.motion.rhythm import mean_joint_speed
    beats = np.arange(0.25, 4.0, 0.5)
    kw = dict(frames=64, genre="Jazz", beats=beats, rhythm_weight=1.0, itto_steps=25, itto_lr=0.1, seed=3)
    own = pipe(**{**kw, "rhythm_weight": 0.0, "itto_steps": 0}).joints
    base = float(mean_joint_speed(torch.as_tensor(own)[None], 20.0).mean())
    fast = pipe(**kw, energy_floor=3 * base, energy_weight=10.0).joints
    held = pipe(**kw, energy_floor=0.0, energy_weight=10.0).joints
    speed = lambda j: float(mean_joint_speed(torch.as_tensor(j)[None], 20.0).mean())  # noqa: E731
    assert speed(fast) > 1.03 * speed(held)                 # identical if the floor were ignored
    assert pipe.energy_floor("Jazz") == pipe.model.corpus_dance_speed("Jazz")   # None: the corpus's speed
    assert pipe.energy_floor("Jazz", 0.25) == 0.25
    with pytest.raises(DanceMosaicError, match="energy_floor"):
        pipe(**kw, energy_floor=-1.0)
