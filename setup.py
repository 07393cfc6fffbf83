"""pip install -e . for the venv set-up (scripts/install.sh).

The distribution is `dancemosaic-ros`, not `dancemosaic`: the Python package generated from msg/
takes the ROS package name `dancemosaic`, and a distribution of that name would make pip remove it.
Pinned dependencies live in requirements.txt; a colcon workspace installs through CMakeLists.txt.
"""
from setuptools import find_packages, setup

# Keep in step with DANCEMOSAIC_NODES in CMakeLists.txt (tests/core/test_infra_package.py).
ROS_NODES = ["audio_node", "generator_node", "retarget_node", "stabilizer_node", "bringup"]
# The ROS applications join the core's `dancemosaic` command line through these groups
# (dancemosaic_core.cli reads them): command name / benchmark name = module.
CLI_APPLICATIONS = {
    "dancemosaic.commands": ["demo = dancemosaic_ros.apps.demo"],
    "dancemosaic.benchmarks": ["live = dancemosaic_ros.apps.bench_live"],
}

setup(
    name="dancemosaic-ros",
    version="0.1.0",
    description="DanceMosaic music-to-dance model and ROS 2 nodes for humanoid robots",
    python_requires=">=3.10",
    packages=find_packages(include=["dancemosaic_core", "dancemosaic_core.*",
                                    "dancemosaic_ros", "dancemosaic_ros.*"]),
    entry_points={
        "console_scripts": ["dancemosaic = dancemosaic_core.cli:main"]
        + [f"dancemosaic_{node} = dancemosaic_ros.{node}:main" for node in ROS_NODES],
        **CLI_APPLICATIONS,
    },
)
