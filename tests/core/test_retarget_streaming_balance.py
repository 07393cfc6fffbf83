"""Balance-aware retargeting of a stream: the retargeter's state restores exactly, the preview
controller continues across calls, each chunk returns the last one's open frames planned again, and
a stepping dance streamed in chunks has fewer frames outside its support than without balance."""
import numpy as np
import pytest

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget import Retargeter
from dancemosaic_core.retarget.balance import zmp_margin
from dancemosaic_core.retarget.com_plan import PreviewController, preview_control
from dancemosaic_core.retarget.streaming_balance import StreamingBalance

FPS = 20.0
CHUNK = 8


def test_snapshot_restores_the_stream_exactly(g1, stepping_dance):
    rt = Retargeter(robot=g1)
    for frame in stepping_dance[:10]:
        rt.step(frame)
    state = rt.snapshot()
    ahead = [rt.step(frame) for frame in stepping_dance[10:20]]
    rt.restore(state)
    again = [rt.step(frame) for frame in stepping_dance[10:20]]
    for (q1, b1, r1), (q2, b2, r2) in zip(ahead, again):
        assert np.array_equal(q1, q2) and np.array_equal(b1, b2) and r1 == r2
    rt.restore(state)             # the snapshot itself is not changed by stepping after a restore
    assert np.array_equal(rt.step(stepping_dance[10])[0], ahead[0][0])


def test_preview_controller_in_pieces_equals_one_run():
    reference = np.zeros((300, 2))
    reference[120:, 0], reference[200:, 1] = 0.08, -0.05
    whole, _ = preview_control(reference, np.zeros(2), 0.01, 0.68)
    controller = PreviewController(np.zeros(2), dt=0.01, com_height=0.68)
    pieces = [controller.run(reference[i:i + 40], future=reference[i + 40:])[0] for i in range(0, 300, 40)]
    assert np.allclose(np.concatenate(pieces), whole, atol=1e-12)


def stream(g1, joints, replan: float, balance: bool):
    rt = Retargeter(robot=g1)
    q, base = np.zeros((len(joints), g1.num_joints)), np.zeros((len(joints), 7))
    if not balance:
        steps = [rt.step(frame) for frame in joints]
        return np.array([s[0] for s in steps]), np.array([s[1] for s in steps])
    balancer = StreamingBalance(rt, replan=replan)
    returned = []
    for i in range(0, len(joints), CHUNK):
        qc, bc = balancer.chunk(joints[i:i + CHUNK])
        end = min(i + CHUNK, len(joints))
        returned.append((end - len(qc), end))
        q[end - len(qc):end], base[end - len(qc):end] = qc, bc
    return q, base, returned


def test_each_chunk_returns_the_open_frames_first_and_covers_the_stream(g1, stepping_dance):
    q, base, returned = stream(g1, stepping_dance, replan=0.3, balance=True)
    assert returned[0] == (0, CHUNK)
    for (start, end), (_, previous_end) in zip(returned[1:], returned):
        assert start == previous_end - 6           # the last 0.3 s of the chunk before, planned again
    assert np.isfinite(q).all() and np.isfinite(base).all()
    assert np.all((q >= g1.lower - 1e-9) & (q <= g1.upper + 1e-9))


def test_streamed_balance_keeps_more_frames_inside_the_support(g1, stepping_dance):
    plain_q, plain_base = stream(g1, stepping_dance, 0.0, balance=False)
    q, base, _ = stream(g1, stepping_dance, replan=0.4, balance=True)
    before = zmp_margin(g1, plain_q, plain_base, FPS).summary()
    after = zmp_margin(g1, q, base, FPS).summary()
    assert before["zmp_margin_window_negative_fraction"] > 0.05                   # the dance steps
    assert after["zmp_margin_window_negative_fraction"] < 0.7 * before["zmp_margin_window_negative_fraction"]
    assert np.sqrt(np.mean(np.square(q - plain_q))) < 0.08                         # still the same dance


def test_fixed_base_is_refused(g1):
    with pytest.raises(DanceMosaicError, match="floating base"):
        StreamingBalance(Retargeter(robot=g1, floating_base=False))
