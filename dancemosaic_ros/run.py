"""Start nodes in one process on a multi-threaded executor and tear them down in the order
rclpy needs (nodes, then the executor, then the context): every executable's main()."""
from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

from dancemosaic_core.common.errors import DanceMosaicError


def run_nodes(node_classes, args=None, *, num_threads: int | None = None) -> int:
    """Build each node class (no arguments) and spin them until shutdown (Ctrl-C, SIGTERM).
    A DanceMosaicError while building (bad parameters, missing model) is logged; exit status 1."""
    rclpy.init(args=args if args is not None else sys.argv)
    nodes, status = [], 0
    executor = MultiThreadedExecutor(num_threads=num_threads)
    try:
        for cls in node_classes:
            nodes.append(cls())
            executor.add_node(nodes[-1])
        executor.spin()
    except DanceMosaicError as exc:
        rclpy.logging.get_logger("dancemosaic").error(str(exc))
        status = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return status
