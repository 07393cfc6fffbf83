"""Drafted chunks refined on the newest beat grid: ITTO continued with Adam's moments carried
over (itto.optimize_tokens state, DancePipeline.refine, StreamingDancer.prepare / next_chunk)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.inference.itto import optimize_tokens
from dancemosaic_core.inference.pipeline import DancePipeline
from dancemosaic_core.inference.streaming import MIN_DRAFT_ITTO_STEPS, StreamingDancer
from dancemosaic_core.motion.rhythm import beat_phase, rhythm_target
from dancemosaic_core.motion.skeleton import MOTION_FPS

BEATS = np.arange(0.25, 4.0, 0.5)
RHYTHM = dict(frames=40, genre="Jazz", beats=BEATS, rhythm_weight=5.0, energy_weight=10.0, foot_weight=10.0,
              itto_lr=0.3, seed=2, steps=3)


def test_itto_continued_from_its_state_is_the_same_run():
    dec = torch.nn.Linear(4, 22 * 3)
    decode = lambda z: dec(z).view(z.shape[0], z.shape[1], 22, 3)  # noqa: E731
    z0 = torch.randn(1, 8, 4)
    target = rhythm_target(BEATS, 8, MOTION_FPS, energy_floor=0.5, weight=1.0)
    frozen = torch.zeros(1, 8, dtype=torch.bool)
    frozen[0, :3] = True
    whole = optimize_tokens(z0, decode, rhythm=target, frozen=frozen, steps=10, lr=0.1)
    first = optimize_tokens(z0, decode, rhythm=target, frozen=frozen, steps=6, lr=0.1)
    rest = optimize_tokens(first.embeddings, decode, rhythm=target, frozen=frozen, steps=4, lr=0.1, state=first.state)
    assert torch.allclose(rest.embeddings, whole.embeddings, atol=1e-6)
    assert torch.allclose(rest.joints, decode(whole.embeddings), atol=1e-5)
    assert torch.equal(rest.embeddings[:, :3], z0[:, :3])                 # frozen tokens never move
    # a fresh start (no state) takes Adam's large first steps again: another point
    fresh = optimize_tokens(first.embeddings, decode, rhythm=target, frozen=frozen, steps=4, lr=0.1)
    assert not torch.allclose(fresh.embeddings, whole.embeddings, atol=1e-4)
    assert rest.rhythm_before.item() == pytest.approx(first.rhythm_after.item(), abs=1e-6)


def test_refine_on_the_drafts_grid_equals_taking_all_steps_at_once(pipe):
    draft = pipe(itto_steps=6, **RHYTHM)
    assert draft.itto is not None and draft.itto.frames == 40
    refined = pipe.refine(draft, steps=4)
    whole = pipe(itto_steps=10, **RHYTHM)
    assert np.allclose(refined.joints, whole.joints, atol=1e-5)
    assert torch.equal(refined.ids, whole.ids)
    assert refined.rhythm_after == pytest.approx(whole.rhythm_after, abs=1e-5)
    assert pipe.refine(draft, steps=0) is draft


def test_refine_aims_at_the_new_grid(pipe):
    draft = pipe(itto_steps=6, **RHYTHM)
    shifted = BEATS + 0.25                                                   # half a beat later
    refined = pipe.refine(draft, steps=8, beats=shifted)
    assert np.allclose(refined.itto.rhythm.phase[0].numpy(), beat_phase(shifted, 40, MOTION_FPS), atol=1e-6)
    # its "before" is the draft's motion scored on the new grid, and refinement lowers it
    assert refined.rhythm_before != pytest.approx(draft.rhythm_after, abs=1e-4)
    assert refined.rhythm_after < refined.rhythm_before
    # a grid of fewer than two beats keeps the draft's
    kept = pipe.refine(draft, steps=1, beats=np.array([0.5]))
    assert torch.equal(kept.itto.rhythm.phase, draft.itto.rhythm.phase)


def test_refine_needs_a_window_decoded_from_the_embeddings(pipe):
    plain = pipe(frames=40, genre="Jazz", itto_steps=0, seed=1)
    with pytest.raises(DanceMosaicError, match="refine needs"):
        pipe.refine(plain, steps=3)
    with pytest.raises(DanceMosaicError, match="refine steps"):
        pipe.refine(pipe(itto_steps=2, **RHYTHM), steps=-1)


def _dancer(model_dir, **kw):
    return StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", sample_rate=22050,
                                           chunk_seconds=0.4, context_seconds=1.2, start_seconds=1.0,
                                           lead_seconds=0.3, itto_steps=4, refine_steps=3, **kw)


def test_a_prepared_chunk_is_the_chunk_drafted_on_the_spot(model_dir):
    """With no audio between prepare() and next_chunk(), drafting ahead changes nothing: the
    draft's window, context and seed are the chunk's own."""
    wave, _ = click_track(120, 5.0, sr=22050)
    ahead, spot = _dancer(model_dir), _dancer(model_dir)
    assert not ahead.prepare()                       # nothing drafted before min_heard_seconds
    for d in (ahead, spot):
        d.push_audio(wave)
    made = 0
    while spot.ready() and made < 5:
        assert ahead.ready()
        ahead.prepare()
        a, b = ahead.next_chunk(), spot.next_chunk()
        assert a.index == b.index and a.start_time == b.start_time
        assert np.allclose(a.joints, b.joints, atol=1e-5)
        assert a.info["refine_steps"] == b.info["refine_steps"]
        # a prepared draft's time is counted into the chunk's cycle; one made on the spot is in
        # next_chunk's own (the first chunk too is prepared once min_heard_seconds are heard)
        assert a.info["drafted_ahead"] and not b.info["drafted_ahead"]
        assert a.cycle_seconds == a.compute_seconds + a.info["draft_compute_seconds"]
        assert b.cycle_seconds == b.compute_seconds >= b.info["draft_compute_seconds"]
        made += 1
    assert made == 5


def test_next_chunk_refines_on_audio_heard_after_the_draft(model_dir, monkeypatch):
    wave, _ = click_track(120, 6.0, sr=22050)
    dancer = _dancer(model_dir)
    drafts = []
    real_call = DancePipeline.__call__
    monkeypatch.setattr(DancePipeline, "__call__", lambda self, **kw: drafts.append(kw["genre"]) or real_call(self, **kw))
    chunks, block = [], 2205
    for i in range(0, len(wave), block):
        dancer.push_audio(wave[i:i + block])
        while dancer.ready():
            chunks.append(dancer.next_chunk())
            assert dancer.prepare()
    assert len(chunks) >= 4 and len(drafts) == len(chunks) + 1     # one draft per chunk, the next one ready
    later = [c for c in chunks[1:] if c.info["refine_steps"]]
    assert later and all(c.info["draft_heard_seconds"] < c.info["heard_seconds"] for c in later)
    # a new prompt drops the draft made with the old one
    dancer.set_prompt(genre="Popular")
    dancer.push_audio(wave[:8820])
    assert dancer.ready()
    dancer.next_chunk()
    assert drafts[-1] == "Popular"
    with pytest.raises(DanceMosaicError, match="refine_steps"):
        StreamingDancer(pipeline=dancer.pipe, genre="Jazz", refine_steps=-2)


def test_a_deadline_cuts_itto_to_its_minimum_steps():
    dec = torch.nn.Linear(4, 22 * 3)
    decode = lambda z: dec(z).view(z.shape[0], z.shape[1], 22, 3)  # noqa: E731
    target = rhythm_target(BEATS, 8, MOTION_FPS, energy_floor=0.5, weight=1.0)
    z0 = torch.randn(1, 8, 4)
    assert optimize_tokens(z0, decode, rhythm=target, steps=9, lr=0.1).steps == 9
    late = optimize_tokens(z0, decode, rhythm=target, steps=9, lr=0.1, deadline=0.0, min_steps=3)
    assert late.steps == 3
    assert torch.allclose(late.embeddings, optimize_tokens(z0, decode, rhythm=target, steps=3, lr=0.1).embeddings)


def test_live_drafts_keep_to_the_time_until_their_chunk_is_due(model_dir):
    """realtime: a chunk drafted on the spot is already due (the fewest draft steps); a draft
    prepared with a chunk's worth of time takes all of its steps on this tiny model."""
    wave, _ = click_track(120, 5.0, sr=22050)
    dancer = StreamingDancer.from_pretrained(model_dir, device="cpu", genre="Jazz", sample_rate=22050,
                                             chunk_seconds=0.4, context_seconds=1.2, start_seconds=1.0,
                                             lead_seconds=0.3, itto_steps=MIN_DRAFT_ITTO_STEPS + 6, refine_steps=2,
                                             realtime=True)
    chunks, block = [], 2205
    for i in range(0, len(wave), block):
        dancer.push_audio(wave[i:i + block])
        while dancer.ready():
            chunks.append(dancer.next_chunk())
            dancer.prepare()
    assert max(c.info["draft_itto_steps"] for c in chunks) == MIN_DRAFT_ITTO_STEPS + 6
    dancer.set_prompt(genre="Jazz")                        # drops the prepared draft
    dancer.push_audio(wave[:11025])
    assert dancer.ready() and dancer.next_chunk().info["draft_itto_steps"] == MIN_DRAFT_ITTO_STEPS
