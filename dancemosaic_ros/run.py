"""Start nodes in one process on an executor (make_executor) and tear them down in the order
rclpy needs (worker threads and nodes, then the executor, then the context): every executable's
main()."""
from __future__ import annotations

import gc
import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from dancemosaic_core.common.errors import DanceMosaicError


SWITCH_INTERVAL_S = 0.001    # Python's GIL switch interval in node processes (default 0.005)


def make_executor(kind: str, num_threads: int | None = None):
    """"single": a SingleThreadedExecutor, for nodes whose callbacks only queue or publish (audio,
    generator: the model runs in its own thread), with none of the thread pool's background
    cost; "multi": a MultiThreadedExecutor, for nodes whose callbacks must run beside each
    other (the retarget node answers the e-stop while a chunk is being solved).
    rclpy.experimental.EventsExecutor (cheaper still) is not used: in the kilted wheels its
    spin_once(timeout_sec=...) fails with "SystemError: null argument to internal routine"."""
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=num_threads)
    if kind == "single":
        return SingleThreadedExecutor()
    raise DanceMosaicError(f"unknown executor {kind!r}: use 'single' or 'multi'")


def run_nodes(node_classes, args=None, *, num_threads: int | None = None, executor: str = "multi") -> int:
    """Build each node class (no arguments) and spin them until SIGINT or SIGTERM on the
    `executor` kind (make_executor). A DanceMosaicError while building (bad parameters,
    missing model) is logged; exit status 1.

    rclpy's own signal handler would shut the context down at once, under worker threads that
    still publish (`RCLError: publisher's context is invalid`); here a signal only ends the spin,
    and destroy_node() stops each node's threads before the context goes."""
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    nodes, status = [], 0
    executor = make_executor(executor, num_threads)
    try:
        for cls in node_classes:
            if stop.is_set():
                break
            nodes.append(cls())
            executor.add_node(nodes[-1])
        # everything built so far (robot model, IK, tracker, rclpy objects) lives to the end: out
        # of the collector's sight, a full collection no longer walks it with the GIL held (the
        # generator node does the same again after its warm-up)
        gc.collect()
        gc.freeze()
        # a thread that gives the GIL up (each numpy or Pinocchio call of the IK does) waits up to
        # the switch interval to get it back while the executor's threads run Python: at the
        # default 5 ms the IK of one chunk took seconds instead of 23 ms in a process with a
        # busy executor (tests/ros/test_handover.py, sampled). At 0.5 ms a storm of 50 e-stop
        # callers was no longer served within 20 s (test_retarget_node); 1 ms serves both.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
