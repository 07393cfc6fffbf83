"""DDS smoke check: publish a few DanceStatus messages to one subscriber, then exit.

Checks on a machine that the generated interfaces load and that Fast DDS reaches another process
(it is the publisher half of tests/ros/test_messages.py):

    python -m dancemosaic_ros.smoke --topic /dancemosaic/smoke --count 5

Exit status 0 once every message was sent to a matched subscriber and that subscriber left (or
`--linger` seconds passed); 1 when no subscriber appeared within `--timeout` seconds.
"""
import argparse
import sys
import time

import rclpy
from dancemosaic.msg import DanceStatus
from rclpy.executors import SingleThreadedExecutor


def make_status(index: int) -> DanceStatus:
    """The index-th smoke message: every field set from the index, so a receiver can check it."""
    msg = DanceStatus()
    msg.generator_state = DanceStatus.STATE_DANCING
    msg.tempo_bpm = 100.0 + index
    msg.beat_phase = (index % 4) / 4.0
    msg.tempo_confidence = 1.0
    msg.chunk_index = index
    msg.chunk_seconds = 2.0
    msg.latency_s = 0.001 * index
    msg.compute_s = 0.0005 * index
    msg.limit_clamps = 2 * index
    msg.deadline_misses = index // 2
    msg.audio_dropouts = 0
    msg.genre = "smoke"
    msg.text = f"chunk {index}"
    return msg


def _spin_until(executor: SingleThreadedExecutor, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="/dancemosaic/smoke")
    parser.add_argument("--count", type=int, default=5, help="messages to send")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a subscriber")
    parser.add_argument("--linger", type=float, default=10.0,
                        help="seconds to stay up after sending, until the subscriber leaves")
    args = parser.parse_args(argv)

    rclpy.init()
    node = rclpy.create_node("dancemosaic_smoke_publisher")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    publisher = node.create_publisher(DanceStatus, args.topic, 10)
    try:
        if not _spin_until(executor, lambda: publisher.get_subscription_count() > 0, args.timeout):
            print(f"smoke: no subscriber on {args.topic} within {args.timeout} s", file=sys.stderr)
            return 1
        for index in range(args.count):
            msg = make_status(index)
            msg.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(msg)
            executor.spin_once(timeout_sec=0.02)
        # Reliable delivery needs the writer alive until the reader has the samples.
        _spin_until(executor, lambda: publisher.get_subscription_count() == 0, args.linger)
        return 0
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
