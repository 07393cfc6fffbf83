"""Fixtures shared by the core tests: the tiny trained-shape model (tests/model_fixture.py)."""
import pytest

from dancemosaic_core.inference.pipeline import DancePipeline
from tests.model_fixture import tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return DancePipeline.from_pretrained(model_dir, device="cpu")
