"""The 22-joint skeleton drawn in 3-D, frame by frame (`dancemosaic render`, the demo video).

One matplotlib figure (Agg, no pyplot state) is built once and its artists are updated per
frame (`set_data_3d`), then the canvas buffer is copied out as an RGB array: rebuilding the
figure per frame would be several times slower. Limbs are coloured by side (from the joint
names in `skeleton`), a grey shadow on the floor and a floor grid give depth, the camera
follows a smoothed root path, and the last seconds of both ankles' paths are drawn as traces.

Motion y-up coordinates (x, y, z) are plotted as matplotlib's z-up (x, -z, y): a proper
rotation, so the body is never mirrored, and the default camera looks at the body's front.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_core.motion.io import check_joints
from dancemosaic_core.motion.skeleton import (
    JOINT_NAMES,
    KINEMATIC_CHAINS,
    LEFT_FOOT_JOINTS,
    MOTION_FPS,
    RIGHT_FOOT_JOINTS,
)

SIDE_COLORS = {"left": "#d1495b", "right": "#2e86ab", "centre": "#3d3d3d"}
GRID_SPACING = 0.5        # metres between floor grid lines
SHADOW_COLOR = "#9a9a9a"


def _chain_side(chain: tuple[int, ...]) -> str:
    names = [JOINT_NAMES[j] for j in chain]
    if any(n.startswith("left_") for n in names):
        return "left"
    if any(n.startswith("right_") for n in names):
        return "right"
    return "centre"


def _polyline(points: np.ndarray, chains: list[tuple[int, ...]]) -> np.ndarray:
    """Joint positions of several chains in one (N, 3) array, NaN rows between chains so a
    single line artist draws them all with gaps (fewer artists = faster drawing)."""
    gap = np.full((1, 3), np.nan)
    parts = []
    for chain in chains:
        parts += [points[list(chain)], gap]
    return np.concatenate(parts[:-1])


def _to_plot(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y-up motion (..., 3) -> matplotlib z-up coordinate arrays (x, -z, y)."""
    return points[..., 0], -points[..., 2], points[..., 1]


class SkeletonRenderer:
    """A reusable 3-D skeleton figure: `draw(pose, centre=...)` returns one RGB frame."""

    def __init__(self, *, size: tuple[int, int] = (480, 480), radius: float = 1.2, floor: float = 0.0,
                 elev: float = 15.0, azim: float = -62.0, dpi: int = 100):
        import mpl_toolkits.mplot3d  # noqa: F401  (registers the 3-D projection)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        width, height = int(size[0]), int(size[1])
        if width < 16 or height < 16:
            raise DanceMosaicError(f"frame size {width}x{height} is too small; give at least 16x16 pixels")
        if not (np.isfinite(radius) and radius > 0 and np.isfinite(floor)):
            raise DanceMosaicError(f"view radius {radius} m and floor {floor} m must be finite, radius > 0")
        self.size = (width, height)
        self.radius = float(radius)
        self.floor = float(floor)
        self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.add_axes((0.0, 0.0, 1.0, 1.0), projection="3d")
        ax.set_axis_off()
        ax.view_init(elev=elev, azim=azim)
        ax.set_box_aspect((1.0, 1.0, 1.0), zoom=1.6)
        self.axes = ax
        scale = min(width, height) / 480.0
        self.chains: dict[str, list[tuple[int, ...]]] = {}
        for chain in KINEMATIC_CHAINS:
            self.chains.setdefault(_chain_side(chain), []).append(chain)
        empty = ([], [], [])
        self.grid = ax.plot(*empty, color="#d0d0d0", lw=max(0.5, 0.8 * scale))[0]
        self.shadow = ax.plot(*empty, color=SHADOW_COLOR, lw=max(1.0, 4 * scale), alpha=0.35,
                              solid_capstyle="round")[0]
        self.traces = {side: ax.plot(*empty, color=SIDE_COLORS[side], lw=max(0.5, 1.5 * scale), alpha=0.45)[0]
                       for side in ("left", "right")}
        self.bones = {side: ax.plot(*empty, color=SIDE_COLORS[side], lw=max(1.0, 3.5 * scale), marker="o",
                                    markersize=max(1.0, 4 * scale), solid_capstyle="round")[0]
                      for side in self.chains}
        self.text = self.figure.text(0.03, 0.97, "", ha="left", va="top", fontsize=max(5.0, 10 * scale),
                                     color="#222222", family="monospace")

    def _grid_lines(self, cx: float, cz: float) -> np.ndarray:
        """Floor grid lines at world-fixed multiples of GRID_SPACING inside the view square, so
        the floor slides under a moving camera instead of moving with it."""
        r = self.radius
        xs = np.arange(np.ceil((cx - r) / GRID_SPACING), np.floor((cx + r) / GRID_SPACING) + 1) * GRID_SPACING
        zs = np.arange(np.ceil((cz - r) / GRID_SPACING), np.floor((cz + r) / GRID_SPACING) + 1) * GRID_SPACING
        segments = [[(x, self.floor, cz - r), (x, self.floor, cz + r)] for x in xs]
        segments += [[(cx - r, self.floor, z), (cx + r, self.floor, z)] for z in zs]
        gap = [(np.nan, np.nan, np.nan)]
        return np.array([p for seg in segments for p in seg + gap][:-1], dtype=np.float64)

    def draw(self, pose: np.ndarray, *, centre: tuple[float, float] | None = None,
             traces: dict[str, np.ndarray] | None = None, caption: str = "") -> np.ndarray:
        """Render one pose (22, 3) y-up metres; centre = (x, z) the camera looks at (default:
        the pelvis); traces = side -> (N, 3) path drawn as a thin line. Returns (H, W, 3) uint8."""
        pose = np.asarray(pose, dtype=np.float64)
        cx, cz = (pose[0, 0], pose[0, 2]) if centre is None else centre
        r = self.radius
        ax = self.axes
        ax.set_xlim(cx - r, cx + r)
        ax.set_ylim(-cz - r, -cz + r)
        ax.set_zlim(self.floor - 0.3 * r, self.floor + 1.7 * r)  # floor low in the frame
        self.grid.set_data_3d(*_to_plot(self._grid_lines(cx, cz)))
        all_chains = [c for chains in self.chains.values() for c in chains]
        shadow = _polyline(pose, all_chains)
        shadow[:, 1] = self.floor
        self.shadow.set_data_3d(*_to_plot(shadow))
        for side, line in self.bones.items():
            line.set_data_3d(*_to_plot(_polyline(pose, self.chains[side])))
        for side, line in self.traces.items():
            path = np.zeros((0, 3)) if traces is None or side not in traces else np.asarray(traces[side])
            line.set_data_3d(*_to_plot(path))
        self.text.set_text(caption)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self.figure.clear()


def smooth_path(path: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0: the camera's path, which keeps the dancer in
    view without copying every sway of the hips. Straight-line paths come back unchanged."""
    path = np.asarray(path, dtype=np.float64)
    if sigma_frames <= 0 or len(path) < 2:
        return path.copy()
    half = int(np.ceil(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    # odd reflection continues the path's trend past its ends, so a dancer travelling in a
    # straight line stays centred at the first and last frames too
    padded = np.pad(path, [(half, half)] + [(0, 0)] * (path.ndim - 1), mode="reflect", reflect_type="odd")
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(path.shape[1])], axis=1)


def skeleton_frames(joints: np.ndarray, fps: float = MOTION_FPS, *, size: tuple[int, int] = (480, 480),
                    caption: str | Callable[[int], str] | None = None, follow_seconds: float = 0.5,
                    trace_seconds: float = 2.0, elev: float = 15.0, azim: float = -62.0) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 of a motion (T, 22, 3) y-up metres, one per motion frame.

    caption: text drawn on every frame after the clock, or a function frame index -> text (for
    tempo/beat read-outs). The floor is the lowest point of the whole motion; the view radius
    fits the tallest pose; the camera follows the root smoothed with sigma `follow_seconds`.
    """
    joints = check_joints(joints).astype(np.float64)
    if not (np.isfinite(fps) and fps > 0):
        raise DanceMosaicError(f"motion frame rate {fps} must be a positive number")
    floor = float(joints[..., 1].min())
    height = float(joints[..., 1].max()) - floor
    radius = max(0.9, 0.5 * height + 0.1)
    centre = smooth_path(joints[:, 0, [0, 2]], follow_seconds * fps)
    trace_len = max(1, int(round(trace_seconds * fps)))
    feet = {"left": LEFT_FOOT_JOINTS[0], "right": RIGHT_FOOT_JOINTS[0]}
    renderer = SkeletonRenderer(size=size, radius=radius, floor=floor, elev=elev, azim=azim)
    try:
        for i, pose in enumerate(joints):
            start = max(0, i - trace_len + 1)
            traces = {side: joints[start:i + 1, j] for side, j in feet.items()} if trace_seconds > 0 else None
            extra = caption(i) if callable(caption) else (caption or "")
            text = f"{i / fps:.2f} s" + (f"\n{extra}" if extra else "")
            yield renderer.draw(pose, centre=tuple(centre[i]), traces=traces, caption=text)
    finally:
        renderer.close()
