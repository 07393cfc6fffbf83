"""The choreographer for live music: frames on demand, locked to an online beat tracker.

    from dancemosaic_core.choreo.streaming import Choreographer
    dancer = Choreographer(genre="Hiphop", seed=0)
    joints = dancer.next_frames(tracker.state(), 40)      # (40, 22, 3), continues the last call

The pulse position u advances at the tracker's tempo (halved or doubled to the genre's step
rate as offline) and is pulled toward the tracker's beat phase by PHASE_GAIN of the error per
frame, so a tempo or phase change bends the dance without a jump; moves are planned a few bars
ahead of u and keyed exactly as offline (same moves, stage, splines, body), so the invariants
hold: constant bones, still planted feet, lowest foot on the floor.
"""
from __future__ import annotations

import numpy as np

from dancemosaic_core.audio.beat import BeatState
from dancemosaic_core.choreo.body import pose_joints
from dancemosaic_core.choreo.choreographer import IDLE, QUIET, _pick
from dancemosaic_core.choreo.genres import get_style
from dancemosaic_core.choreo.stage import MoveContext, Stage
from dancemosaic_core.choreo.timeline import Timeline
from dancemosaic_core.motion.skeleton import FOOT_JOINTS, MOTION_FPS

PHASE_GAIN = 0.15          # share of the phase error corrected per frame (~0.5 s to lock at 20 fps)
PLAN_AHEAD = 8.0           # pulses of moves kept planned beyond the newest frame
KEEP_BEHIND = 4.0          # pulses of keys kept behind the newest frame (older ones are dropped)


class Choreographer:
    def __init__(self, *, genre: str, seed: int = 0, fps: float = MOTION_FPS, start_time: float = 0.0):
        self.style = get_style(genre)
        self.fps, self.start_time = float(fps), float(start_time)
        self.rng = np.random.default_rng(seed)
        self.timeline, self.stage = Timeline(), Stage(style=self.style)
        self.stage.key_feet(self.timeline, 0.0)
        self.frame = 0                        # frames produced so far
        self.u = 0.0                          # pulse position of the latest frame
        self.planned = {"legs": 0, "arms": 0}  # each layer's planned end (pulse)
        self.previous = {"legs": None, "arms": None}
        self.energy = 0.6

    def _pulse_rate(self, tempo_bpm: float) -> tuple[float, int]:
        """(pulses per second, level): the tempo halved, kept or doubled toward the genre's rate."""
        lo, hi = self.style.pulse_bpm
        centre = np.sqrt(lo * hi)

        def miss(rate):
            return 0.0 if lo <= rate <= hi else abs(np.log2(rate / centre))

        level = min((-1, 0, 1), key=lambda e: (miss(tempo_bpm * 2.0 ** e), abs(e)))
        return tempo_bpm * 2.0 ** level / 60.0, level

    def _plan(self, until: float) -> None:
        for part in ("legs", "arms"):
            while self.planned[part] < until:
                u0 = self.planned[part]
                idle = self.energy < QUIET
                weights = IDLE[part] if idle else self.style.legs if part == "legs" else self.style.arms
                move = _pick(self.rng, weights, self.energy, self.previous[part])
                n = int(self.rng.choice(move.lengths))
                move.fn(MoveContext(timeline=self.timeline, stage=self.stage, u0=u0, n=n,
                                    side=float(self.rng.choice([-1.0, 1.0])),
                                    amplitude=lambda u: 0.55 + 0.5 * self.energy, rng=self.rng,
                                    settle=self.previous[part] is not None))
                self.previous[part] = move.name
                self.planned[part] = u0 + n

    def _prune(self) -> None:
        for keys in self.timeline.keys.values():
            old = sorted(u for u in keys if u < self.u - KEEP_BEHIND)
            for u in old[:-1]:                 # keep one key before the window as the anchor
                del keys[u]

    def next_frames(self, beat: BeatState | None, n: int, energy: float | None = None) -> np.ndarray:
        """The next n frames (n, 22, 3) float32; `beat` from audio.OnlineBeatTracker.state()
        (None or no tempo: the genre's default tempo, free-running); energy in [0, 1]
        (the music's loudness, e.g. its recent onset strength over its running 90th percentile)."""
        if energy is not None:
            self.energy = float(np.clip(energy, 0.0, 1.2))
        tempo = beat.tempo_bpm if beat is not None and beat.tempo_bpm else self.style.default_bpm
        rate, level = self._pulse_rate(tempo)
        period = 60.0 / tempo
        nominal = rate / self.fps
        us = np.empty(n)
        for i in range(n):
            t = self.start_time + (self.frame + i) / self.fps
            step = nominal if self.frame + i > 0 else 0.0
            if beat is not None and beat.tempo_bpm and beat.last_beat is not None:
                beats = (t - beat.last_beat) / period           # beats since the tracker's last beat
                # half time: either beat parity is a pulse; lock to the nearer one
                targets = [(beats * 2.0 ** level + k / 2.0) % 1.0 for k in ((0, 1) if level < 0 else (0,))]
                errors = [(x - (self.u + step) % 1.0 + 0.5) % 1.0 - 0.5 for x in targets]
                step += PHASE_GAIN * min(errors, key=abs)
                if self.frame + i > 0:
                    step = float(np.clip(step, 0.3 * nominal, 2.0 * nominal))
            self.u += step
            us[i] = self.u
        self._plan(us[-1] + PLAN_AHEAD)
        joints = pose_joints(self.timeline.evaluate(us, self.style.flow), self.style)
        joints[..., 1] -= joints[:, list(FOOT_JOINTS), 1].min(axis=1, keepdims=True)
        self.frame += n
        self._prune()
        return joints.astype(np.float32)
