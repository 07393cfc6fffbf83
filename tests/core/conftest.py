"""Fixtures shared by the core tests: the tiny trained-shape model (tests/model_fixture.py), the
G1 and a planted squat retargeted to it."""
import pytest

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
