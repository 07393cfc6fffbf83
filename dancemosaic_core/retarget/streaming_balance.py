"""Balance-aware retargeting of a stream, chunk by chunk (the live form of com_plan.balanced_retarget).

    balance = StreamingBalance(Retargeter(robot=robot))      # a floating base
    q, base = balance.chunk(joints)                           # (k, 22, 3) human frames -> (k, n), (k, 7)
    balance.reset()                                           # a new stream

Per chunk, on the retargeter's own stream state (Retargeter.snapshot / restore):
1. the chunk is retargeted without balance, from the stream's state: the contact schedule;
2. its feasibility (balance.zmp_margin) with the last `history` seconds of that schedule before it,
   so foot speeds and the weight-release ramps after a touch-down see across the joint;
3. the ZMP reference of com_plan.zmp_reference over those frames, and the CoM of ZMP preview control
   (com_plan.PreviewController) continued from the last chunk's cart-table state; the preview
   holds the reference at the chunk's last frame: the chunk is all the lookahead a live stream has,
   so a lift-off early in the next chunk is prepared only from its own first frames;
4. the chunk retargeted again from the same state, tracking that CoM with the joints pulled toward
   the first pass (as offline), which becomes the stream's state.
Costs per frame: two IK solves and the margin of the frame and its history share (~1 ms each).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.retarget.balance import BalanceOptions, zmp_margin
from dancemosaic_core.retarget.com_plan import PlanOptions, PreviewController, zmp_reference


@dataclass
class ChunkPlan:
    com: np.ndarray              # (k, 2) m, the CoM the balanced pass tracked
    zmp_reference: np.ndarray    # (k, 2) m
    contacts: np.ndarray         # (k, 2) bool, the schedule of the unbalanced pass
    unbalanced_q: np.ndarray     # (k, n) the first pass's joints


class StreamingBalance:
    def __init__(self, retargeter, options: PlanOptions | None = None, balance: BalanceOptions | None = None,
                 history: float = 0.5, replan: float = 0.0):
        """replan: seconds at the end of each chunk kept open: the next chunk plans them again,
        knowing what follows (chunk() then returns them first); 0: every chunk is final."""
        if not retargeter.floating:
            raise DanceMosaicError("balance-aware retargeting needs a floating base; drop --fixed-base "
                                   "(or turn balance off)")
        self.retargeter, self.options, self.balance = retargeter, options or PlanOptions(), balance
        self.keep = max(2, round(history * retargeter.fps))
        self.replan = max(0, round(replan * retargeter.fps))
        self.per_frame = max(1, round(1.0 / (self.options.dt * retargeter.fps)))   # cart-table steps per frame
        self.reset()

    def reset(self) -> None:
        """A new stream: the retargeter starts over, no schedule history, the planner at rest."""
        self.retargeter.reset()
        self.committed = self.retargeter.snapshot()   # the stream's state before the open frames
        self.history = None            # (q, base) of the last committed unbalanced frames
        self.controller = None         # the cart table at the committed frame
        self.open = np.zeros((0, 22, 3))   # human frames planned but open to a re-plan
        self.last_plan = None          # ChunkPlan of the last call's frames

    def chunk(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Human frames (k, 22, 3), continuing the stream -> balanced (q (m, n), base (m, 7)) for the
        open frames of the last call (m - k of them, `replan` seconds) followed by these."""
        rt = self.retargeter
        frames = np.concatenate([self.open, np.asarray(joints, np.float64)])
        rt.restore(self.committed)
        q1, base1 = rt.steps(frames)
        final = len(frames) - min(self.replan, len(joints))      # frames committed by this call
        lead = 0 if self.history is None else len(self.history[0])
        q_all = q1 if not lead else np.concatenate([self.history[0], q1])
        base_all = base1 if not lead else np.concatenate([self.history[1], base1])
        com = None                     # too short to have a schedule: the first pass's path
        if len(q_all) >= 3:
            report = zmp_margin(rt.robot, q_all, base_all, rt.fps, self.balance)
            reference = zmp_reference(report, rt.fps, self.options)[lead:]
            com = self._plan(reference, float(report.com[:, 2].mean()), final)
            self.last_plan = ChunkPlan(com=com, zmp_reference=reference, contacts=report.contacts[lead:],
                                       unbalanced_q=q1)
        def guide(part: slice):       # the planned CoM and the first pass's joints, when planned
            return (None, None) if com is None else (com[part], q1[part])

        rt.restore(self.committed)
        committed = rt.steps(frames[:final], *guide(slice(0, final)))
        self.committed = rt.snapshot()     # the state before the frames left open
        opened = rt.steps(frames[final:], *guide(slice(final, None)))
        end = lead + final
        if end:
            self.history = (q_all[:end][-self.keep:], base_all[:end][-self.keep:])
        self.open = frames[final:]
        return np.concatenate([committed[0], opened[0]]), np.concatenate([committed[1], opened[1]])

    def _plan(self, reference: np.ndarray, com_height: float, final: int) -> np.ndarray:
        """The CoM (m, 2) at the frames of `reference`: the cart table runs on from its committed
        state, its preview seeing every frame's reference; its state after the first `final` frames
        is the new committed one."""
        if self.controller is None:
            self.controller = self._controller(reference[0], com_height)
        fine = self._fine(reference)
        split = final * self.per_frame
        controller = copy.deepcopy(self.controller)
        committed, _ = controller.run(fine[:split], future=fine[split:])
        opened, _ = copy.deepcopy(controller).run(fine[split:])
        self.controller = controller
        return np.concatenate([committed, opened])[::self.per_frame]

    def _controller(self, com0: np.ndarray, com_height: float) -> PreviewController:
        opt = self.options
        return PreviewController(com0, dt=1.0 / (self.retargeter.fps * self.per_frame), com_height=com_height,
                                 preview=opt.preview, error_weight=opt.error_weight, jerk_weight=opt.jerk_weight)

    def _fine(self, reference: np.ndarray) -> np.ndarray:
        """The reference (k, 2) at the cart table's steps (options.dt), linear between frames and
        held after the last."""
        nxt = np.concatenate([reference[1:], reference[-1:]])
        w = (np.arange(self.per_frame) / self.per_frame)[None, :, None]
        return ((1 - w) * reference[:, None] + w * nxt[:, None]).reshape(-1, 2)
