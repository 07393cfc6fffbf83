"""The move vocabulary: parametric leg moves (footwork and pelvis) and arm moves (arms,
chest, head), each written as keys on the pulse grid so its stops and accents land on beats.

A move is a function of a MoveContext; distances are metres and angles radians before the
context scales them by the music's energy. Arm angles (left-arm convention, mirrored for the
right; see choreographer.arm_rotation): abd raises the arm sideways (0 down, pi/2 horizontal,
pi overhead), flex raises it forward, hadd brings it across the body, twist rolls the upper arm,
elbow bends the forearm, wrist flaps the hand, shrug lifts the shoulder.
Every leg move returns the feet to their home spots by its last pulse.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dancemosaic_core.choreo.stage import MoveContext

PI = np.pi


@dataclass(frozen=True)
class Move:
    name: str
    part: str                          # "legs" or "arms"
    fn: Callable[[MoveContext], None]
    lengths: tuple[int, ...]           # allowed lengths in pulses
    energy: float                      # 0 calm .. 1 vigorous: chosen where the music matches
    captions: tuple[str, ...]          # legs: verb phrases; arms: participle phrases


# --- legs --------------------------------------------------------------------------------------
def bounce(c: MoveContext) -> None:
    for k in range(c.n):
        c.body(k, drop=0.07, hip_pitch=0.08)
        c.body(k + 0.5, drop=0.0, lean=0.01)


def step_touch(c: MoveContext) -> None:
    s, d = c.side, 0.22
    for k in range(0, c.n, 4):
        c.step(c.lead, k, k + 1, s * d)
        c.step(c.trail, k + 1, k + 2, s * d, lift=0.07)
        c.step(c.trail, k + 2, k + 3)
        c.step(c.lead, k + 3, k + 4, lift=0.07)
        for j, side in enumerate((s, s, -s, -s)):
            c.body(k + j + 1, drop=0.05, sway=0.03 * side, hip_roll=-0.05 * side)
            c.body(k + j + 0.5, drop=0.01)


def side_step(c: MoveContext) -> None:
    s, d = c.side, 0.28
    plan = [(c.lead, d), (c.trail, d), (c.lead, 2 * d), (c.trail, 2 * d),
            (c.trail, d), (c.lead, d), (c.trail, 0.0), (c.lead, 0.0)]
    for k, (foot, dx) in enumerate(plan[:c.n]):
        c.step(foot, k, k + 1, s * dx)
        c.body(k + 1, drop=0.05, sway=0.04 * (s if k < 4 else -s))
        c.body(k + 0.5, drop=0.015)


def sway(c: MoveContext) -> None:
    for k in range(c.n):
        side = c.side if k % 2 == 0 else -c.side
        c.body(k, sway=0.07 * side, hip_roll=-0.1 * side, drop=0.03)


def march(c: MoveContext) -> None:
    for k in range(c.n):
        foot = c.lead if k % 2 == 0 else c.trail
        c.step(foot, k, k + 1, lift=0.2, heel=0.6)
        c.body(k + 0.5, sway=-0.03 * (1 if foot == "L" else -1), drop=0.0)
        c.body(k + 1, drop=0.04)


def kick(c: MoveContext) -> None:
    for k in range(c.n):
        foot = c.lead if k % 2 == 0 else c.trail
        c.step(foot, k, k + 1, lift=0.3, heel=0.2, via=(0.0, 0.35))
        c.body(k + 0.5, lean=-0.04, drop=0.01)
        c.body(k + 1, drop=0.05)


def turn(c: MoveContext) -> None:
    spin = c.side * 2 * PI / (c.n - 1)
    start = c.stage.facing
    for k in range(c.n):
        foot = c.lead if k % 2 == 0 else c.trail
        facing = start + spin * min(k + 1, c.n - 1)
        c.step(foot, k, k + 1, facing=facing, lift=0.08, heel=0.4)
        c.body(k + 1, drop=0.03)
    c.stage.facing = start + spin * (c.n - 1)


def hip_shake(c: MoveContext) -> None:
    """The hips thrown to one side on the beat (held, knees dipped), to the other on the and."""
    for k in range(c.n):
        c.body(k, hip_roll=0.14 * c.side, sway=0.03 * c.side, drop=0.07)
        c.body(k + 0.5, hip_roll=-0.1 * c.side, sway=-0.02 * c.side, drop=0.03)


def rock(c: MoveContext) -> None:
    """A step forward with the weight rocking onto it, then back, one foot after the other."""
    for k in range(0, c.n, 2):
        foot = c.lead if (k // 2) % 2 == 0 else c.trail
        c.step(foot, k, k + 1, dz=0.25)
        c.body(k + 1, lean=0.07, drop=0.05, hip_pitch=0.06)
        c.step(foot, k + 1, k + 2)
        c.body(k + 2, lean=-0.03, drop=0.04)


def lunge(c: MoveContext) -> None:
    """A wide step out into a deep knee bend on one beat, back on the next; sides alternate."""
    for k in range(0, c.n, 2):
        side = c.side if (k // 2) % 2 == 0 else -c.side
        foot = "L" if side > 0 else "R"
        c.step(foot, k, k + 1, side * 0.3)
        c.body(k + 1, drop=0.15, sway=0.1 * side, hip_roll=-0.06 * side)
        c.step(foot, k + 1, k + 2)
        c.body(k + 2, drop=0.04)


def twist(c: MoveContext) -> None:
    for k in range(c.n):
        side = c.side if k % 2 == 0 else -c.side
        c.body(k, hip_twist=0.35 * side, drop=0.1, sway=0.02 * side)


def grapevine(c: MoveContext) -> None:
    s, d, w = c.side, 0.25, c.stage.style.stance
    plan = [(c.lead, s * d, 0.0), (c.trail, s * (w + d - 0.05), -0.18), (c.lead, s * 2 * d, 0.0),
            (c.trail, s * 2 * d, 0.0), (c.trail, s * d, 0.0), (c.lead, s * d, 0.0),
            (c.trail, 0.0, 0.0), (c.lead, 0.0, 0.0)]
    for k, (foot, dx, dz) in enumerate(plan[:c.n]):
        c.step(foot, k, k + 1, dx, dz)
        c.body(k + 1, drop=0.05, sway=0.03 * (s if k < 4 else -s))
        c.body(k + 0.5, drop=0.015)


def v_step(c: MoveContext) -> None:
    s = c.side
    for k in range(0, c.n, 4):
        c.step(c.lead, k, k + 1, s * 0.15, 0.25)
        c.step(c.trail, k + 1, k + 2, -s * 0.15, 0.25)
        c.step(c.lead, k + 2, k + 3)
        c.step(c.trail, k + 3, k + 4)
        for j in range(4):
            c.body(k + j + 1, drop=0.05, lean=0.03 if j < 2 else 0.0)
            c.body(k + j + 0.5, drop=0.015)


def tap(c: MoveContext) -> None:
    """A toe tap out to the front on one beat, back home on the next; then the other foot."""
    for k in range(0, c.n, 2):
        foot = c.lead if (k // 2) % 2 == 0 else c.trail
        sign = 1.0 if foot == "L" else -1.0
        c.step(foot, k, k + 1, sign * 0.1, 0.22, lift=0.07)
        c.step(foot, k + 1, k + 2, lift=0.07)
        c.body(k + 0.5, sway=-0.02 * sign, drop=0.0)
        c.body(k + 1, sway=-0.03 * sign, drop=0.05)
        c.body(k + 1.5, drop=0.0)
        c.body(k + 2, drop=0.05)


# --- arms --------------------------------------------------------------------------------------
GUARD = dict(abd=0.35, flex=0.6, elbow=1.9)
ON_HIP = dict(abd=0.35, flex=-0.17, twist=0.95, elbow=0.94)


def swing(c: MoveContext) -> None:
    fwd, back = dict(flex=0.55, elbow=0.5), dict(flex=-0.35, elbow=0.3)
    for k in range(c.n + 1):
        a, b = (fwd, back) if k % 2 == 0 else (back, fwd)
        c.upper(k, a, b, head_pitch=0.06)


def pump(c: MoveContext) -> None:
    for k in range(c.n):
        c.upper(k, dict(abd=0.5, flex=2.7, elbow=0.15), ON_HIP, chest_pitch=-0.05, head_pitch=-0.08)
        c.upper(k + 0.5, dict(abd=0.6, flex=1.6, elbow=1.9), ON_HIP, head_pitch=0.05)


def punch(c: MoveContext) -> None:
    hit = dict(flex=1.5, hadd=0.25, elbow=0.05)
    for k in range(c.n):
        a, b = (hit, GUARD) if k % 2 == 0 else (GUARD, hit)
        sign = c.side if k % 2 == 0 else -c.side
        c.upper(k, a, b, chest_twist=-0.25 * sign)
        c.upper(k + 0.5, GUARD, GUARD)


def clap(c: MoveContext) -> None:
    shut, open_ = dict(abd=-0.27, flex=0.81, hadd=0.1, elbow=0.97), dict(abd=0.36, flex=0.56, twist=-0.18, elbow=1.31)
    for k in range(c.n):
        c.upper(k, shut, shut, head_pitch=0.06)
        c.upper(k + 0.5, open_, open_)


def wave_overhead(c: MoveContext) -> None:
    for k in range(c.n + 1):
        side = c.side if k % 2 == 0 else -c.side
        a, b = dict(abd=2.7, flex=0.2, elbow=0.2), dict(abd=2.3, flex=0.2, elbow=0.5)
        c.upper(k, a if side > 0 else b, b if side > 0 else a, chest_roll=0.12 * side, head_roll=0.08 * side)


def jazz_hands(c: MoveContext) -> None:
    for k in np.arange(0, c.n + 0.5, 0.5):
        sign = 1.0 if int(2 * k) % 2 == 0 else -1.0
        pose = dict(abd=2.0 - 0.15 * sign, flex=0.6, elbow=0.1, wrist=0.4 * sign)
        c.upper(k, pose, pose, head_pitch=-0.05)


def open_close(c: MoveContext) -> None:
    wide, shut = dict(abd=1.45, flex=0.25, elbow=0.15), dict(abd=0.2, flex=1.3, hadd=0.9, elbow=0.5)
    for k in range(c.n + 1):
        pose = wide if k % 2 == 0 else shut
        c.upper(k, pose, pose, chest_pitch=-0.06 if k % 2 == 0 else 0.05)


def point(c: MoveContext) -> None:
    up, down = dict(abd=2.4, flex=0.5, hadd=0.3, elbow=0.0), dict(abd=0.35, flex=0.4, hadd=0.7, elbow=0.0)
    for k in range(c.n + 1):
        high = k % 2 == 0
        c.upper(k, up if high else down, ON_HIP, head_pitch=-0.15 if high else 0.15,
                head_yaw=0.2 * c.side, chest_roll=0.05 * c.side if high else -0.05 * c.side)


def hips(c: MoveContext) -> None:
    for k in range(c.n):
        c.upper(k, ON_HIP, ON_HIP, head_pitch=0.15)
        side = c.side if k % 2 == 0 else -c.side
        c.upper(k + 0.5, dict(ON_HIP, shrug=0.25 if side > 0 else 0.0),
                dict(ON_HIP, shrug=0.25 if side < 0 else 0.0), head_pitch=0.0)


ROBOT_POSES = (dict(abd=0.3, flex=0.0, elbow=1.57), dict(abd=1.57, twist=-1.57, elbow=1.57),
               dict(abd=0.3, flex=1.57, elbow=1.57), dict(abd=1.2, flex=0.8, twist=-0.8, elbow=1.57),
               dict(abd=1.57, twist=1.2, elbow=1.57))


def robot(c: MoveContext) -> None:
    for k in range(c.n + 1):
        a, b = c.rng.choice(len(ROBOT_POSES), 2)
        c.upper(k, ROBOT_POSES[a], ROBOT_POSES[b], head_yaw=0.3 * c.side * (1 if k % 2 == 0 else -1))


def arm_wave(c: MoveContext) -> None:
    """A wave travelling hand to hand through arms held out: each joint bumps in turn."""
    joints = {"wrist": 3.0, "elbow": 2.0, "shrug": 1.0}
    for k in np.arange(0, c.n + 0.25, 0.25):
        phase = (k % 4) / 2.0                       # 0..2: out and back every 4 pulses
        q = -3.5 + 7.0 * (phase if phase <= 1 else 2 - phase)
        lead, trail = dict(abd=1.5, twist=-1.57, elbow=0.3), dict(abd=1.5, twist=-1.57, elbow=0.3)
        for name, pos in joints.items():
            gain = {"wrist": 0.7, "elbow": 0.9, "shrug": 0.3}[name]
            lead[name] = lead.get(name, 0.0) + gain * np.exp(-(q + pos) ** 2 / 0.8)
            trail[name] = trail.get(name, 0.0) + gain * np.exp(-(q - pos) ** 2 / 0.8)
        c.upper(k, lead, trail, chest_roll=0.1 * c.side * np.exp(-q ** 2 / 0.8))


def chest_pop(c: MoveContext) -> None:
    for k in range(c.n):
        c.upper(k, dict(GUARD, shrug=0.2), dict(GUARD, shrug=0.2), chest_pitch=-0.15, head_pitch=0.1)
        c.upper(k + 0.5, GUARD, GUARD, chest_pitch=0.04)


LOCK_POSES = (dict(flex=1.5, elbow=0.0), dict(abd=1.0, flex=0.6, elbow=2.2, wrist=0.8),
              dict(abd=1.5, elbow=0.0), dict(abd=0.5, flex=0.3, elbow=1.5))


def lock(c: MoveContext) -> None:
    for k in range(c.n + 1):
        pose = LOCK_POSES[k % 4]
        c.upper(k, pose, pose, head_pitch=0.1 if k % 4 == 3 else 0.0)


FLOW_POSES = (dict(abd=0.4, flex=0.35, hadd=0.3, elbow=0.6), dict(flex=1.3, hadd=0.5, elbow=0.5),
              dict(abd=2.7, flex=0.4, elbow=0.6), dict(abd=1.5, flex=0.3, elbow=0.3, wrist=0.4))


def flow(c: MoveContext) -> None:
    for k in range(c.n + 1):
        side = c.side if k % 2 == 0 else -c.side
        c.upper(k, FLOW_POSES[k % 4], FLOW_POSES[(k + 1) % 4], chest_roll=0.08 * side,
                head_roll=0.06 * side, head_yaw=-0.15 * side)


MOVES: dict[str, Move] = {m.name: m for m in [
    Move("bounce", "legs", bounce, (4, 8), 0.5, ("bounces on the knees", "bobs up and down to the beat")),
    Move("step_touch", "legs", step_touch, (4, 8), 0.5, ("steps side to side", "does step touches to each side")),
    Move("side_step", "legs", side_step, (8,), 0.6, ("side steps to one side and back",)),
    Move("sway", "legs", sway, (4, 8), 0.1, ("sways the hips from side to side", "rocks gently from side to side")),
    Move("march", "legs", march, (4, 8), 0.7, ("marches in place lifting the knees",)),
    Move("kick", "legs", kick, (4, 8), 0.9, ("kicks the legs out in front", "kicks one leg then the other")),
    Move("turn", "legs", turn, (8,), 0.6, ("turns around in place", "steps around in a full turn")),
    Move("hip_shake", "legs", hip_shake, (4, 8), 0.6, ("shakes the hips", "shimmies the hips quickly")),
    Move("rock", "legs", rock, (4, 8), 0.6, ("rocks forward and back", "steps forward and rocks back")),
    Move("lunge", "legs", lunge, (4, 8), 0.7, ("lunges to the side", "lunges out to one side then the other")),
    Move("twist", "legs", twist, (4, 8), 0.6, ("twists the hips with bent knees",)),
    Move("grapevine", "legs", grapevine, (8,), 0.6, ("does a grapevine to the side and steps back",)),
    Move("v_step", "legs", v_step, (4, 8), 0.5, ("steps out and in in a v shape",)),
    Move("tap", "legs", tap, (4, 8), 0.5, ("taps the feet out to the front", "taps one foot then the other")),
    Move("swing", "arms", swing, (4, 8), 0.3, ("swinging the arms", "letting the arms swing back and forth")),
    Move("pump", "arms", pump, (4, 8), 0.9, ("pumping a fist in the air",)),
    Move("punch", "arms", punch, (4, 8), 0.8, ("punching forward with alternating fists",)),
    Move("clap", "arms", clap, (4, 8), 0.6, ("clapping the hands to the beat", "clapping in front of the chest")),
    Move("wave_overhead", "arms", wave_overhead, (4, 8), 0.7, ("waving both arms above the head",)),
    Move("jazz_hands", "arms", jazz_hands, (4, 8), 0.8, ("shaking jazz hands up high",)),
    Move("open_close", "arms", open_close, (4, 8), 0.5, ("opening and closing the arms",)),
    Move("point", "arms", point, (4, 8), 0.7, ("pointing up to the sky and down to the floor",)),
    Move("hips", "arms", hips, (4, 8), 0.3, ("resting the hands on the hips and nodding the head",)),
    Move("robot", "arms", robot, (4, 8), 0.6, ("moving the arms like a robot",)),
    Move("arm_wave", "arms", arm_wave, (4, 8), 0.5, ("making a wave through the arms",)),
    Move("chest_pop", "arms", chest_pop, (4, 8), 0.7, ("popping the chest to the beat",)),
    Move("lock", "arms", lock, (4, 8), 0.7, ("locking the arms into sharp poses",)),
    Move("flow", "arms", flow, (4, 8), 0.2, ("moving the arms gracefully in wide arcs",
                                             "tracing slow circles with the arms")),
]}
