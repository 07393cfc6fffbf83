"""Fixtures shared by the core tests: the tiny trained-shape model (tests/model_fixture.py), the
G1, a planted squat retargeted to it and a choreographed dance that steps."""
import pytest

import numpy as np

from dancemosaic_core.choreo import dance_to_beats
from dancemosaic_core.inference.pipeline import DancePipeline
from dancemosaic_core.retarget import Retargeter, load_robot
from dancemosaic_core.retarget.synthetic import planted_squat
from tests.model_fixture import tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return DancePipeline.from_pretrained(model_dir, device="cpu")


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def squat(g1):
    """One second of a squat with both feet planted, retargeted to the floating-base G1."""
    return Retargeter(robot=g1).retarget(planted_squat(1.0))


@pytest.fixture(scope="module")
def stepping_dance():
    """3 s of the choreographer's Hiphop at 120 BPM (20 fps): it steps from foot to foot."""
    beats = np.arange(0.0, 3.0, 0.5)
    env = np.full(60, 0.1)
    env[np.round(beats * 20).astype(int)] = 1.0
    return dance_to_beats(beats, env, len(env), "Hiphop", seed=0).joints
