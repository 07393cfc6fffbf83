"""Where the dancer stands (the stage) and what a move may write (the move context).

Positions given to moves are in the dance frame: x toward the dancer's left, z forward,
relative to a foot's home spot (its place in the resting stance). The stage turns them into
world keys and remembers where each foot is, so a foot that does not step stays exactly put.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancemosaic_core.choreo.genres import GenreStyle
from dancemosaic_core.choreo.timeline import ARM, BODY, FACING, UPPER, Timeline

FOOT_SIGN = {"L": 1.0, "R": -1.0}
MIN_LIFT = 0.06          # m: a swinging toe clears the FSR contact height within its first quarter
HOLD = 0.1               # pulses a pose keyed on a beat is held on each side (sharp styles)
AIR = 0.8                # share of a step's pulses the foot is in the air: both feet are down
                         # around the beat it lands on, so the body's speed dips on the beat


@dataclass
class Stage:
    style: GenreStyle
    center: np.ndarray = field(default_factory=lambda: np.zeros(2))   # (x, z) world
    facing: float = 0.0                                               # yaw (rad), 0 = +z
    feet: dict = field(default_factory=dict)                          # foot -> [x, z, yaw] world

    def __post_init__(self):
        for foot in FOOT_SIGN:
            self.feet[foot] = list(self.home(foot))

    def key_feet(self, timeline: Timeline, u: float) -> None:
        """Key both feet where they stand (a move without steps leaves them there)."""
        for foot, (x, z, yaw) in self.feet.items():
            timeline.key(u, stop=True, **{f"{foot}_toe_x": x, f"{foot}_toe_z": z, f"{foot}_yaw": yaw,
                                          f"{foot}_lift": 0.0, f"{foot}_heel": 0.0})
        timeline.key(u, stop=True, **{FACING: self.heading()})

    def heading(self) -> float:
        """The way the feet point on average (their turnouts cancel)."""
        return (self.feet["L"][2] + self.feet["R"][2]) / 2

    def world(self, x: float, z: float, facing: float) -> tuple[float, float]:
        c, s = np.cos(facing), np.sin(facing)
        return self.center[0] + c * x + s * z, self.center[1] - s * x + c * z

    def home(self, foot: str, dx: float = 0.0, dz: float = 0.0, facing: float | None = None):
        """World (x, z, yaw) of a foot's home spot moved by (dx, dz) in the dance frame."""
        facing = self.facing if facing is None else facing
        sign = FOOT_SIGN[foot]
        x, z = self.world(sign * self.style.stance / 2 + dx, dz, facing)
        return x, z, facing + sign * self.style.turnout


class MoveContext:
    """What one move sees: its start u0 and length n (pulses), its lead side, the energy-scaled
    amplitude per pulse, and writers for keys (relative pulse positions k)."""

    def __init__(self, *, timeline: Timeline, stage: Stage, u0: float, n: int, side: float,
                 amplitude, rng: np.random.Generator, settle: bool = False):
        self.timeline, self.stage, self.u0, self.n = timeline, stage, u0, n
        self.settle = settle     # the first pulse is the way in from the previous arm move
        self.side = side                             # +1: lead with the left side, -1: the right
        self.lead = "L" if side > 0 else "R"
        self.trail = "R" if side > 0 else "L"
        self._amplitude = amplitude
        self.rng = rng

    def amp(self, k: float) -> float:
        return float(self._amplitude(self.u0 + k)) * self.stage.style.amplitude

    def _key(self, k: float, keys: dict) -> None:
        """Keys at k; on a pulse, held for HOLD x (1 - flow) pulses each side (a hit that
        sits on the beat), a single stop key when that is too short to matter."""
        hold = HOLD * (1.0 - self.stage.style.flow)
        if float(k).is_integer() and hold >= 0.02:
            self.timeline.key(self.u0 + k - hold, stop=True, **keys)
            self.timeline.key(self.u0 + k + hold, stop=True, **keys)
        else:
            self.timeline.key(self.u0 + k, **keys)

    def body(self, k: float, **values: float) -> None:
        """Key every body channel at k: the given ones scaled by the amplitude, others 0."""
        a = self.amp(k)
        self._key(k, {c: a * values.get(c, 0.0) for c in BODY})

    def upper(self, k: float, lead: dict | None = None, trail: dict | None = None, **values: float) -> None:
        """Key the chest, head and both arms at k. Arm channels move from the genre's resting
        carriage toward the given targets, most of the way even in quiet music, all of it at
        full energy; unset channels rest. With `settle`, keys in the first pulse are skipped:
        arms get a pulse or more to travel from one move's poses to the next one's."""
        if self.settle and k < 1:
            return
        a = min(1.0, 0.55 + 0.45 * self.amp(k))
        rest = self.stage.style.arm_carriage
        keys = {c: a * values.get(c, 0.0) for c in UPPER}
        for side, pose in ((self.lead, lead or {}), (self.trail, trail or {})):
            for c in ARM:
                base = rest.get(c, 0.0)
                keys[f"{side}_{c}"] = base + a * (pose.get(c, base) - base)
        self._key(k, keys)

    def step(self, foot: str, k0: float, k1: float, dx: float = 0.0, dz: float = 0.0, *,
             lift: float = 0.1, heel: float = 0.3, via: tuple[float, float] | None = None,
             facing: float | None = None, air: float = AIR) -> None:
        """Move a foot from where it is to its home spot + (dx, dz) between pulses k0 and k1,
        in the air for the middle `air` share of that time, travelling only in the middle
        half of its flight (so it never slides on the floor). `via` (dx, dz) is a mid-air
        point (kicks); `facing` turns the stance."""
        tl, ch = self.timeline, foot + "_"
        pad = 0.5 * (1.0 - air) * (k1 - k0)
        ua, ub = self.u0 + k0 + pad, self.u0 + k1 - pad
        d = ub - ua
        x0, z0, yaw0 = self.stage.feet[foot]
        a = float(np.clip(self.amp((k0 + k1) / 2), 0.6, 1.15))      # smaller steps in quiet music
        x1, z1, yaw1 = self.stage.home(foot, a * dx, a * dz, facing)
        h = max(MIN_LIFT, lift * a)
        for u, (x, z, yaw) in ((ua, (x0, z0, yaw0)), (ua + 0.25 * d, (x0, z0, yaw0)),
                               (ub - 0.25 * d, (x1, z1, yaw1)), (ub, (x1, z1, yaw1))):
            tl.key(u, **{ch + "toe_x": x, ch + "toe_z": z, ch + "yaw": yaw})
        tl.key(ua, **{ch + "lift": 0.0, ch + "heel": 0.0})
        tl.key(ua + 0.5 * d, **{ch + "lift": h, ch + "heel": heel})
        tl.key(ub, **{ch + "lift": 0.0, ch + "heel": 0.0})
        if via is not None:
            vx, vz, _ = self.stage.home(foot, a * via[0], a * via[1], facing)
            tl.key(ua + 0.5 * d, **{ch + "toe_x": vx, ch + "toe_z": vz})
        self.stage.feet[foot] = [x1, z1, yaw1]
        tl.key(ub, stop=False, **{FACING: self.stage.heading()})
