"""Real rclpy nodes in the test process: a private context, a multi-threaded executor spinning
in a background thread, and a teardown in the order rclpy needs (nodes, executor, context)."""
from __future__ import annotations

import gc
import sys
import threading
import time
from contextlib import contextmanager

import rclpy
from rclpy._rclpy_pybind11 import InvalidHandle
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, ShutdownException
from rclpy.parameter import Parameter

from dancemosaic_ros.run import SWITCH_INTERVAL_S


def overrides(params: dict) -> list[Parameter]:
    return [Parameter(name, value=value) for name, value in params.items()]


class Session:
    def __init__(self, context):
        self.context = context
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.nodes = []
        self._thread = None
        self._closing = False
        self.error = None                  # what a callback raised, re-raised at close()

    def add(self, factory, **params):
        """Create a node: factory(context=..., parameter_overrides=...) and spin it."""
        node = factory(context=self.context, parameter_overrides=overrides(params))
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def probe(self, name: str = "probe"):
        node = rclpy.create_node(f"test_{name}", context=self.context)
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def start(self) -> None:
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except (ExternalShutdownException, ShutdownException):  # shut down under the spinning thread
            pass
        except Exception as exc:  # a callback raised: the executor stopped serving every node
            # except that executor.shutdown() destroys its guard condition while the spinning
            # thread may still wake on it (an rclpy race, seen about once in 60 sessions), and
            # closes a MultiThreadedExecutor's pool while that thread may still hand it a ready
            # callback ("cannot schedule new futures after shutdown", seen once in ~200 tests on
            # a slow machine), and the shut-down executor's wait set may already be empty when that
            # thread waits on it ("wait set is empty", once in ~600 tests): after close() began,
            # these are that race, not a node's fault
            race = isinstance(exc, InvalidHandle) or any(
                text in str(exc) for text in ("cannot schedule new futures after shutdown", "wait set is empty"))
            if not (self._closing and race):
                self.error = exc

    def close(self) -> None:
        # stop spinning first, so no callback runs on a node being destroyed
        self._closing = True
        self.executor.shutdown(timeout_sec=5.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for node in self.nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)
        if self.error is not None:
            raise RuntimeError(f"a node callback raised, which stopped the executor: {self.error!r}") from self.error


@contextmanager
def ros_session():
    # what the test process holds by now (torch, models, earlier tests' records) lives on: out of
    # the collector's sight, a full collection in the middle of a test no longer walks it (0.2 to
    # 0.7 s with the GIL held were measured in the ros suite: every timer and subscription of the
    # test's nodes stalls, longer than a state_timeout). The generator node does the same after
    # its warm-up.
    gc.collect()
    gc.freeze()
    # the nodes' processes run with a short GIL switch interval (run_nodes): so does this one
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    context = rclpy.Context()
    rclpy.init(context=context)
    session = Session(context)
    try:
        yield session
    finally:
        session.close()


def wait_for(condition, timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def call_service(node, srv_type, name: str, timeout: float = 5.0):
    client = node.create_client(srv_type, name)
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} did not appear")
        future = client.call_async(srv_type.Request())
        if not wait_for(future.done, timeout):
            raise TimeoutError(f"service {name} did not answer")
        return future.result()
    finally:
        node.destroy_client(client)


def audio_messages(wave, sample_rate: int, block: int, origin: float = 1000.0, first: int = 0):
    """AudioChunk messages of a mono wave, stamped on a music clock starting at `origin` s."""
    import numpy as np
    from dancemosaic.msg import AudioChunk

    from dancemosaic_ros.convert import to_time
    out = []
    for start in range(0, len(wave), block):
        msg = AudioChunk(sample_rate=sample_rate, channels=1, first_sample=first + start)
        msg.header.stamp = to_time(origin + (first + start) / sample_rate)
        msg.samples = np.ascontiguousarray(wave[start:start + block], dtype=np.float32)
        out.append(msg)
    return out
