"""All dance nodes in one process on a multi-threaded executor: audio -> generator -> retarget
with intra-process hops only (lowest latency). Parameters come from the same file as the
separate executables (`<node>: ros__parameters:` sections of config/ros/dance.yaml); a `-p`
override names its node as `node:parameter` (`audio_node.file` would be a parameter of that name
on every node, and is ignored):

    python -m dancemosaic_ros.bringup --ros-args --params-file config/ros/dance.yaml \
        -p audio_node:file:=song.wav -p audio_node:wait_for_listeners:=2
"""
from __future__ import annotations

from dancemosaic_ros.audio_node import AudioNode
from dancemosaic_ros.generator_node import GeneratorNode
from dancemosaic_ros.retarget_node import RetargetNode
from dancemosaic_ros.run import run_nodes

NODES = (AudioNode, GeneratorNode, RetargetNode)


def main(args=None) -> int:
    # the generator works in its own thread; these serve audio, retargeting, timers and services
    return run_nodes(NODES, args, num_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
