"""Shared test set-up: small thread counts (the CI machine has 2 cores), loopback-only DDS,
and seeded randomness."""
import os
import random

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield


@pytest.fixture
def setup_py_entry_points(monkeypatch):
    """The `dancemosaic` command line as this checkout's setup.py declares it: its entry points
    stand in for those of the installed distribution, which may predate the checkout."""
    from distutils.core import (
        run_setup,  # setuptools' shim; runs setup.py without building
    )
    from importlib.metadata import EntryPoint

    from dancemosaic_core import cli

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    declared = run_setup(os.path.join(root, "setup.py"), stop_after="init").entry_points
    points = {group: [EntryPoint(*(s.strip() for s in line.split("=", 1)), group) for line in lines]
              for group, lines in declared.items()}
    monkeypatch.setattr(cli, "entry_points", lambda group: points.get(group, []))
    return points


# Tests over real DDS (marker `ros`) run nodes, executors and a stand-in robot on timers in one
# process on a 2-core machine: a run can miss a wall-clock wait that the next run meets. They get
# up to two reruns (pytest-rerunfailures); a rerun shows as `R` in the summary, so flakiness stays
# visible, and a test that fails three times in a row still fails the suite.
ROS_RERUNS = 2


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("ros") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=ROS_RERUNS))
