"""Whole-song beat-aware ITTO, batched: even windows, then odd ones between optimised neighbours
(inference/long.py)."""
from __future__ import annotations

import numpy as np
import torch

from dancemosaic_core.inference.long import ITTO_BATCH, _itto_batches, _rhythm_windows, segment_bounds

TERMS = dict(weight=5.0, energy_floor=0.3, energy_weight=10.0, foot_weight=10.0, steps=4, lr=0.3)


def test_every_token_moves_in_exactly_one_window_and_odd_windows_see_optimised_neighbours():
    n, window, context = 24 * 40 + 10, 24, 12
    segments = segment_bounds(n, window)
    batches = _itto_batches(segments, n, context)
    windows = [w for batch in batches for w in batch]
    moved = np.zeros(n, dtype=int)
    for start, a, b, stop in windows:
        assert 0 <= start <= a < b <= stop <= n and a - start <= context and stop - b <= context
        moved[a:b] += 1
    assert (moved == 1).all()
    order = [segments.index((a, b)) for _, a, b, _ in windows]
    evens = [k for k in order if k % 2 == 0]
    assert order[:len(evens)] == evens                               # the even pass comes first
    for start, a, b, stop in windows:
        if segments.index((a, b)) % 2:                                # both neighbours frozen
            assert a - start == context and (stop - b == context or stop == n)
        else:
            assert stop == b                                          # the raw right neighbour is not seen
    assert all(len(batch) <= ITTO_BATCH for batch in batches)
    assert all(len({(w[3] - w[0], w[1] - w[0], w[2] - w[0]) for w in batch}) == 1 for batch in batches)


def test_a_batch_of_windows_is_each_window_optimised_alone(pipe):
    torch.manual_seed(0)
    z = pipe.model.tokenizer.embed(torch.randint(0, pipe.model.tokenizer.num_codes, (1, 40, pipe.model.num_quantizers)))
    beats = np.arange(0.2, 8.0, 0.5)
    windows = [(0, 4, 10, 14), (20, 24, 30, 34)]
    together, both = _rhythm_windows(pipe, z, beats, windows, **TERMS)
    for w, r in zip(windows, both):
        alone, (only,) = _rhythm_windows(pipe, z, beats, [w], **TERMS)
        a, b = w[1], w[2]
        # batched convolutions round differently (~1e-5); a window mixed up with another moves ~0.1
        assert torch.allclose(together[:, a:b], alone[:, a:b], atol=2e-4)
        assert np.allclose(r, only, rtol=1e-4)
    untouched = torch.ones(40, dtype=torch.bool)
    for _, a, b, _ in windows:
        untouched[a:b] = False
    assert torch.equal(together[:, untouched], z[:, untouched])        # only the moving tokens change
