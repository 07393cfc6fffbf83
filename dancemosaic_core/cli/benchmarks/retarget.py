"""Retargeting: IK frames/s per core, residuals on generated dances, the joint-limit proxy, MuJoCo real-time factor.

Dances: the `--motion` files (e.g. the model's output) or, by default, the procedural
choreographer's dances to click tracks (several genres and tempos). Per robot: batch and
streaming IK throughput (frames per CPU-second and per wall-second, single thread), per-frame
step latency, residuals, limit clamps, planted feet; the joint-limit proxy's cost and a test of
its purpose: dance frames perturbed past the limits (random joint turns, bone lengths kept) are
retargeted before and after descending the proxy, and the IK residual drops; MuJoCo playback
of the retargeted dances (free-standing and fixed-base display) with the real-time factor.
"""
from __future__ import annotations

import time

import numpy as np

PERTURBED_JOINTS = ("left_hip", "right_hip", "left_knee", "right_knee", "spine1", "spine3",
                    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow")


def add_arguments(parser) -> None:
    parser.add_argument("--robots", nargs="+", default=["g1", "talos"], help="robot configs to measure")
    parser.add_argument("--motion", nargs="*", default=[], help="motion .npz files (default: choreographed dances)")
    parser.add_argument("--genres", nargs="+", default=["Hiphop", "Jazz", "Popping"], help="choreographer genres")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each choreographed dance")
    parser.add_argument("--proxy-frames", type=int, default=40, help="perturbed frames in the proxy test")
    parser.add_argument("--sim-seconds", type=float, default=8.0, help="seconds of each dance played in MuJoCo")
    parser.add_argument("--no-sim", action="store_true", help="skip MuJoCo")


def dances(args) -> tuple[str, list[tuple[str, np.ndarray, float]]]:
    """(source description, [(name, joints (T, 22, 3), fps)])."""
    if args.motion:
        from dancemosaic_core.motion.io import load_motion
        return "files", [(str(p), load_motion(p).joints, load_motion(p).fps) for p in args.motion]
    from dancemosaic_core.audio.synth import click_track
    from dancemosaic_core.choreo import choreograph
    out = []
    for i, genre in enumerate(args.genres):
        bpm = (100, 120, 140)[i % 3]
        wave, _ = click_track(bpm, args.seconds, 22050, jitter_ms=5.0, seed=i)
        motion = choreograph(wave, 22050, genre, seed=i)
        out.append((f"{genre}@{bpm}bpm", motion.joints, motion.fps))
    return "choreographer on click tracks", out


def _ik(robot, motions) -> dict:
    from dancemosaic_core.retarget import Retargeter
    out = {}
    for mode, floating in (("floating", True), ("fixed", False)):
        rt = Retargeter(robot=robot, floating_base=floating)
        frames, cpu, wall, results = 0, 0.0, 0.0, []
        for _, joints, fps in motions:
            c0, w0 = time.process_time(), time.perf_counter()
            results.append(rt.retarget(joints, fps=fps))
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            frames += len(joints)
        residual = np.concatenate([r.residual for r in results])
        out[mode] = {
            "ik_frames_per_s_per_core": frames / cpu, "ik_frames_per_s_wall": frames / wall,
            "residual_mean_m": float(residual.mean()), "residual_p95_m": float(np.percentile(residual, 95)),
            "residual_max_m": float(residual.max()),
            "success_rate": float(np.mean([r.success for r in results])),
            "frames_at_a_limit": float(np.mean(np.concatenate([r.clamped.any(axis=1) for r in results]))),
            "velocity_clamps_per_frame": sum(r.velocity_clamps for r in results) / frames,
            "acceleration_clamps_per_frame": sum(r.acceleration_clamps for r in results) / frames,
            "planted_foot_rate": float(np.mean(np.concatenate([r.contacts for r in results]))),
            "frames": frames}
    rt = Retargeter(robot=robot)
    latency = []
    for frame in motions[0][1]:
        start = time.perf_counter()
        rt.step(frame)
        latency.append(time.perf_counter() - start)
    latency = np.array(latency[1:]) * 1000
    out["step_latency_ms"] = {"p50": float(np.median(latency)), "p99": float(np.percentile(latency, 99)),
                              "max": float(latency.max())}
    return out


def _proxy(robot, motions, frames: int) -> dict:
    import torch

    from dancemosaic_core.motion.skeleton import JOINT_INDEX
    from dancemosaic_core.retarget import Retargeter, RetargetOptions, joint_limit_proxy
    from dancemosaic_core.retarget.proxy import descend, rotate_bones

    start = time.perf_counter()
    proxy = joint_limit_proxy(robot)
    out = {"build_seconds": time.perf_counter() - start}
    for label, shape in (("chunk_1x40", (1, 40)), ("batch_4x196", (4, 196))):
        x = torch.as_tensor(motions[0][1][:shape[1]]).float().expand(shape[0], -1, -1, -1).clone().requires_grad_(True)
        start = time.perf_counter()
        for _ in range(5):
            proxy(x).sum().backward()
        out[f"forward_backward_ms_{label}"] = (time.perf_counter() - start) / 5 * 1000
    everything = np.concatenate([j for _, j, _ in motions])
    with torch.no_grad():
        per_frame = proxy(torch.as_tensor(everything).float()[:, None]).numpy()
    out["dance_frames_over_limits"] = float(np.mean(per_frame > 0))

    # Dance frames turned past the limits, as a generator's mistakes would be.
    rng = np.random.default_rng(0)
    pick = everything[rng.choice(len(everything), frames, replace=False)].astype(np.float64)
    turns = np.zeros_like(pick)
    for name in PERTURBED_JOINTS:
        turns[:, JOINT_INDEX[name]] = rng.normal(0.0, 0.5, (frames, 3))
    perturbed = rotate_bones(torch.as_tensor(pick), torch.as_tensor(turns)).numpy()
    with torch.no_grad():
        over = proxy(torch.as_tensor(perturbed).float()[:, None]).numpy() > 0
    start = time.perf_counter()
    fixed = descend(proxy, perturbed[over], steps=150)
    descend_seconds = time.perf_counter() - start

    free = RetargetOptions()
    free.ik.limits = False

    def clamping(poses) -> tuple[float, float]:
        """Mean IK residual, and the part of it the limits cause (residual with limits minus
        without), each pose solved on its own."""
        bounded = np.array([Retargeter(robot=robot).retarget(p[None]).residual[0] for p in poses])
        unbounded = np.array([Retargeter(robot=robot, options=free).retarget(p[None]).residual[0] for p in poses])
        return float(bounded.mean()), float(np.maximum(bounded - unbounded, 0).mean())

    before, clamp_before = clamping(perturbed[over])
    after, clamp_after = clamping(fixed)
    reachable, clamp_reachable = clamping(perturbed[~over])
    with torch.no_grad():
        still = proxy(torch.as_tensor(fixed).float()[:, None]).numpy()
    out["descent"] = {
        "perturbed_frames": frames, "over_limits": int(over.sum()),
        "clamping_residual_before_m": clamp_before, "clamping_residual_after_m": clamp_after,
        "residual_before_m": before, "residual_after_m": after,
        "reachable_frames_residual_m": reachable, "reachable_frames_clamping_residual_m": clamp_reachable,
        "still_over_limits": float(np.mean(still > 0)), "descend_seconds": descend_seconds}
    return out


def _sim(robot, motions, seconds: float) -> dict:
    from types import SimpleNamespace

    from dancemosaic_core.retarget import Retargeter
    from dancemosaic_core.sim import play

    out = {}
    stand = play(SimpleNamespace(q=np.repeat(robot.neutral_q[None], 100, 0), base=None, fps=20.0), robot)
    out["neutral_stands_5s"] = not stand.fell
    for mode, fixed in (("free", False), ("fixed_base", True)):
        reports = []
        for _, joints, fps in motions:
            joints = joints[:max(2, int(seconds * fps))]
            reports.append(play(Retargeter(robot=robot).retarget(joints, fps=fps), robot, fixed_base=fixed))
        out[mode] = {
            "real_time_factor": float(np.mean([r.real_time_factor for r in reports])),
            "fell_rate": float(np.mean([r.fell for r in reports])),
            "tracking_err_rad": float(np.mean([r.tracking_error for r in reports])),
            "foot_slip_m_per_s": float(np.mean([r.foot_slip for r in reports])),
            "foot_contact_rate": float(np.mean([r.foot_contact_fraction for r in reports])),
            "limit_hits_per_frame": float(sum(r.limit_hits for r in reports) / sum(len(r.pelvis_height) for r in reports)),
            "fall_times_s": [r.fall_time for r in reports]}
    return out


def run(args) -> dict:
    import torch
    torch.set_num_threads(1)
    from dancemosaic_core.retarget import load_robot

    source, motions = dances(args)
    results = {"dances": {"source": source, "names": [n for n, _, _ in motions],
                          "seconds": float(sum(len(j) / f for _, j, f in motions))}}
    for name in args.robots:
        robot = load_robot(name)
        entry = {"joints": robot.num_joints, **_ik(robot, motions)}
        entry["proxy"] = _proxy(robot, motions, args.proxy_frames)
        if not args.no_sim:
            entry["sim"] = _sim(robot, motions, args.sim_seconds)
        results[name] = entry
    return results
