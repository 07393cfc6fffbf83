"""Write an evaluation: eval.json, a Markdown report (README.md) and its plots (matplotlib,
Agg backend): feature distributions against the ground truth, beat-alignment timelines of
music beats against motion beats, and per-genre tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dancemosaic_core.eval.distribution import normalize_by_gt

METRIC_COLUMNS = (("n", "N"), ("fid_k", "FID_k"), ("fid_g", "FID_g"), ("div_k", "Div_k"),
                  ("div_g", "Div_g"), ("bas", "BAS"), ("bas_motion_to_music", "BAS m->m"),
                  ("fsr", "FSR"), ("pfc", "PFC"))

RHYTHM_COLUMNS = (("bas", "BAS"), ("bas_half_beat", "BAS half-beat-late beats"),
                  ("bas_chance", "BAS random phase"), ("bas_minus_chance", "BAS - random phase"),
                  ("bas_minus_half_beat", "BAS - half-beat-late"), ("period_ratio_median", "period / beat"),
                  ("locked_share", "locked"), ("joint_speed", "joint speed m/s"))


def _fmt(value, key: str) -> str:
    if value is None:
        return "-"
    if key == "n":
        return str(int(value))
    if key in ("fsr", "locked_share"):
        return f"{100 * value:.{0 if key == 'locked_share' else 2}f} %"
    if key == "joint_speed":
        return f"{value:.3f}"
    return f"{value:.4f}" if key.startswith("bas") else f"{value:.2f}"


def _table(rows: dict[str, dict], first: str, columns=METRIC_COLUMNS) -> list[str]:
    lines = ["| " + first + " | " + " | ".join(h for _, h in columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(k), k) for k, _ in columns) + " |")
    return lines


def _diagnostics(diag: dict | None) -> list[str]:
    """How many GT feature dimensions are (near-)constant, beside FID, and FID without them."""
    if not diag:
        return []
    lines = ["### Near-constant ground-truth feature dimensions", ""]
    for kind, d in diag.items():
        const = d["near_constant"]
        lines.append(f"- {kind}: {len(const)} of {d['dims']} dimensions have a ground-truth std below "
                     f"{d['threshold']:g} x max(1, |mean|)" + (f" (indices {', '.join(map(str, const))})" if const else ""))
    lines += ["", "The reference normalisation divides each dimension by the ground-truth std + 1e-10, so a "
              "generated deviation in a near-constant dimension is multiplied by up to 1e10 and can alone make "
              "FID reach 1e17: then the FID says that the ground truth never varies there, not how far the "
              "motion is. The table's FID is the reference number, unchanged; FID over the other dimensions "
              "only, as a diagnostic:", ""]
    names = sorted({n for d in diag.values() for n in d["fid_without_near_constant"]})
    lines += ["| set | " + " | ".join(f"FID_{k[0]} without near-constant" for k in diag) + " |",
              "|" + "---|" * (len(diag) + 1)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(d["fid_without_near_constant"].get(name), "fid")
                                                for d in diag.values()) + " |")
    return lines + [""]


def plot_features(sets, out: Path) -> Path:
    """2-D PCA (fitted on the normalised ground truth) of kinetic and geometric features."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, kind in zip(axes, ("kinetic", "geometric")):
        gt = np.stack(getattr(sets["ground_truth"], kind))
        gt_n = normalize_by_gt(gt)[0]
        centre = gt_n.mean(axis=0)
        _, _, vt = np.linalg.svd(gt_n - centre, full_matrices=False)
        basis = vt[:2].T if len(vt) >= 2 else np.eye(gt_n.shape[1])[:, :2]
        for name, s in sets.items():
            if name == "ground_truth_shuffled_music" or not getattr(s, kind):
                continue
            x = normalize_by_gt(gt, np.stack(getattr(s, kind)))[1]
            xy = (x - centre) @ basis
            ax.scatter(xy[:, 0], xy[:, 1], s=14, alpha=0.7, label=f"{name} ({len(x)})")
        ax.set_title(f"{kind} features, PCA of the normalised ground truth")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_timeline(timeline: dict, title: str, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = np.arange(len(timeline["speed"])) / timeline["fps"]
    fig, ax = plt.subplots(figsize=(11, 3))
    ax.plot(t, timeline["speed"], color="0.3", lw=1, label="mean joint speed (m/s)")
    for i, b in enumerate(timeline["music_beats"]):
        ax.axvline(b, color="tab:red", lw=1, alpha=0.7, label="music beat" if i == 0 else None)
    top = float(np.max(timeline["speed"])) if len(timeline["speed"]) else 1.0
    mb = np.asarray(timeline["motion_beats"])
    ax.plot(mb, np.full(len(mb), top * 1.05), "v", color="tab:blue", label="motion beat")
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_report(result: dict, sets, out_dir, *, command: str = "") -> dict[str, Path]:
    out = Path(out_dir)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "eval.json", "markdown": out / "README.md"}
    paths["json"].write_text(json.dumps(result, indent=2, default=float) + "\n")
    paths["features"] = plot_features(sets, plots / "features.png")
    timelines = []
    for name in ("generated", "choreographer", "ground_truth"):
        if name in sets:
            for i, tl in enumerate(sets[name].timelines):
                p = plot_timeline(tl, f"{name}: {tl['name']}", plots / f"beats_{name}_{i}.png")
                timelines.append((name, tl["name"], p))
    proto = result["protocol"]
    lines = ["# Evaluation report", ""]
    if command:
        lines += ["Made with:", "", "```", command, "```", ""]
    lines += [f"Protocol **{proto['name']}** at {proto['fps']:g} fps ({proto['reference']}): features on "
              f"{proto['feature_frames'] or 'all'} frames, "
              f"{'joints 1..21 root-relative per frame' if proto['root_relative_per_frame'] else 'first-frame root subtracted'}; "
              f"BAS sigma {proto['bas_sigma_s']:.3f} s, speed smoothing {proto['bas_smooth_s']:.3f} s; "
              f"motion->music sigma {proto['m2m_sigma_s']:.3f} s; FSR slide speed {proto['fsr_slide_speed']:g} m/s. "
              "Numbers at another protocol or frame rate are not comparable.", ""]
    if proto.get("comparable", True):
        lines += [f"Kinetic energy expenditure: the reference's term (`{proto.get('kinetic_energy', 'reference')}`, "
                  "operator-precedence quirk kept), features rounded to float32 as the reference stores them: "
                  "FID/Div are comparable with published tables.", ""]
    else:
        lines += [f"**Variant `{proto['name']}`: physically correct energy expenditure "
                  f"(`{proto.get('kinetic_energy')}`); FID_k / Div_k are NOT comparable with published "
                  "tables.**", ""]
    lines += [
              f"{result['n_generated']} generated motions, {result['n_ground_truth']} ground-truth motions.", "",
              "## Metrics", ""]
    lines += _table(result["metrics"], "set")
    lines += ["", "FID and Div use features normalised by the ground truth's mean and std; FID of the "
              "ground truth against itself is 0 by construction; the shuffled-music control keeps the "
              "ground-truth motions (same FID/Div) and pairs each with another motion's music, so its BAS "
              "is the chance level.", ""]
    lines += _diagnostics(result.get("feature_diagnostics"))
    lines += ["## Rhythm", ""] + _table(result["metrics"], "set", RHYTHM_COLUMNS)
    lines += ["", "Each set against its own recorded music's beats (controls generated on other audio keep "
              "their own song's beats as the truth). Half-beat-late: the same beats delayed by half the "
              "local inter-beat interval; random phase: the beat grid shifted by a uniformly random "
              "fraction of a beat (mean of 20 seeded draws), the chance level. Period / beat: median over "
              "motions of the dominant period of the smoothed mean joint speed (autocorrelation) over "
              "the median beat period; locked: share of motions within 8 % of 0.5, 1 or 2.", ""]
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    for name, genres in result.get("per_genre", {}).items():
        lines += ["", f"## Per genre: {name}", ""] + _table(genres, "genre")
    lines += ["", "## Plots", "", f"![feature distributions](plots/{paths['features'].name})", ""]
    for name, motion, p in timelines:
        lines += [f"Beat alignment, {name} `{motion}`:", "", f"![{name} {motion}](plots/{p.name})", ""]
    paths["markdown"].write_text("\n".join(lines) + "\n")
    return paths
