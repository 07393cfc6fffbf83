"""Property-based fuzzing of `dancemosaic generate` and `retarget` (Hypothesis): arguments from
strategies, valid and hostile. Every run exits 0, or 2 with exactly one line on stderr; never a
traceback (an exception other than DanceMosaicError fails the test by escaping main)."""
import contextlib
import io
import json
import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from dancemosaic_core.audio.synth import click_track
from dancemosaic_core.cli import main
from tests.model_fixture import tiny_model_dir

NUMBERS = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, -5.0, 1e9]),
                    st.floats(-10, 10, allow_nan=False))
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    wave, _ = click_track(120, 3.0, sr=16000)
    sf.write(root / "song.wav", wave, 16000)
    return root, tiny_model_dir(root)


def run_cli(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def check_outcome(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("dancemosaic "), err
    assert "Traceback" not in err


@st.composite
def constraint_files(draw):
    item = {"time": draw(NUMBERS), "joint": draw(st.sampled_from(["head", "left_wrist", "tail"])),
            "position": [draw(NUMBERS) for _ in range(draw(st.sampled_from([3, 3, 2])))]}
    if draw(st.booleans()):
        item["weight"] = draw(NUMBERS)
    return json.dumps({"constraints": [item]})


@SETTINGS
@given(seconds=st.one_of(st.none(), NUMBERS), steps=st.sampled_from([1, 2, 0, -1, 10**6]),
       w_text=NUMBERS, constraints=st.one_of(st.none(), constraint_files()), music=st.booleans())
@example(seconds=2.0, steps=1, w_text=1.0, music=True,                  # the path that dances
         constraints=json.dumps({"constraints": [{"time": 1.0, "joint": "head", "position": [0, 1.6, 0]}]}))
def test_generate_arguments_fuzzed(files, seconds, steps, w_text, constraints, music):
    root, model = files
    # --flag=value: argparse would take a bare "-1e+300" for an option
    argv = ["generate", "--model", model, "--out", root / "out.npz", "--genre", "Jazz", f"--steps={steps}",
            f"--w-text={w_text}", "--itto-steps", 2]
    if seconds is not None:
        argv += [f"--seconds={seconds}"]
    argv += ["--music", root / "song.wav"] if music else []
    if constraints is not None:
        (root / "c.json").write_text(constraints)
        argv += ["--constraints", root / "c.json"]
    check_outcome(*run_cli(argv))


@SETTINGS
@given(cut=st.integers(0, 4000), iterations=st.sampled_from([None, 0, 1, 2, 10**6]))
def test_retarget_of_damaged_files_fuzzed(files, cut, iterations):
    root, _ = files
    whole = root / "whole.npz"
    if not whole.exists():
        np.savez(whole, joints=np.zeros((10, 22, 3), np.float32), fps=20.0)
    damaged = root / "damaged.npz"
    damaged.write_bytes(whole.read_bytes()[:cut])
    argv = ["retarget", damaged, "--out", root / "traj.npz"]
    if iterations is not None:
        argv += [f"--iterations={iterations}"]
    check_outcome(*run_cli(argv))
