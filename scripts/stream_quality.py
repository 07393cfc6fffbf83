"""Stream a song offline through StreamingDancer as the generator node does (0.1 s audio blocks,
each chunk taken when ready, the next drafted at once) and print its beat alignment against the
controls, foot skating and compute per chunk (docs/inference.md, "Drafted ahead").

    .venv/bin/python scripts/stream_quality.py DRAFT_STEPS REFINE_STEPS [SECONDS] [SONG] [noprep]

noprep: no drafts ahead (every chunk made on the spot, as before issue 17's drafts).
"""
import sys
import time

import numpy as np
import torch

from dancemosaic_core.inference.streaming import StreamingDancer
from dancemosaic_core.audio.io import DEMO_SONG, load_audio
from dancemosaic_ros.apps.demo import motion_metrics


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    draft, refine = int(argv[1]), int(argv[2])
    seconds = float(argv[3]) if len(argv) > 3 else 40.0
    song = argv[4] if len(argv) > 4 else DEMO_SONG
    ahead = not (len(argv) > 5 and argv[5] == "noprep")
    wave, sr = load_audio(song, sr=22050)
    wave = wave[: int(seconds * sr)]
    dancer = StreamingDancer.from_pretrained("dancemosaic_core/weights/default", device="cpu", sample_rate=sr,
                                             itto_steps=draft, refine_steps=refine, lead_seconds=0.5)
    dancer.warmup(1)
    chunks, drafts = [], []
    for i in range(0, len(wave), sr // 10):
        dancer.push_audio(wave[i:i + sr // 10])
        while dancer.ready():
            chunks.append(dancer.next_chunk())
            t0 = time.perf_counter()
            if ahead:
                dancer.prepare()
            drafts.append(time.perf_counter() - t0)
    joints = np.concatenate([c.joints for c in chunks])
    m = motion_metrics(joints, wave, sr, chunks[0].start_time)
    dance = m["dance_level"]
    compute = 1000 * np.array([c.compute_seconds for c in chunks[5:]])
    print(f"draft {draft} refine {refine} ahead {ahead}: BAS {dance['bas']:.3f} half-beat {dance['bas_half_beat']:.3f} "
          f"chance {dance['bas_chance']:.3f} (reference tracker {m['bas']:.3f} / {m['bas_half_beat']:.3f} / "
          f"{m['bas_chance']:.3f}) | foot skating {m['fsr']:.3f} | speed {m['joint_speed']:.3f} m/s | "
          f"next_chunk median {np.median(compute):.0f} ms, p99 {np.percentile(compute, 99):.0f} ms; "
          f"draft median {1000 * np.median(drafts[5:]):.0f} ms")


if __name__ == "__main__":
    main(sys.argv)
