"""Generator node: audio -> StreamingDancer (dancemosaic_core.inference.streaming) -> MotionChunk.

Subscribes `audio` (AudioChunk) and `pose_constraints` (PoseConstraint); publishes `motion`
(MotionChunk) and `generator/status` (DanceStatus). The model runs in a worker thread, never in
an executor callback: callbacks only validate and queue. Prompt and guidance weights are
parameters changeable at run time (`ros2 param set /generator_node genre HipHop`).

Music clock: the stamp of the first audio sample heard is the stream origin; chunk times are
seconds after it. Lost audio up to `max_gap_seconds` is filled with silence so the clock holds;
a longer gap, a rate change or a restarted source starts a new stream.
"""
from __future__ import annotations

import gc
import math
import os
import queue
import threading
import time

import numpy as np
from dancemosaic.msg import AudioChunk, DanceStatus, MotionChunk, PoseConstraint

from dancemosaic_core.common.errors import DanceMosaicError
from dancemosaic_ros.convert import (
    audio_mono,
    merge_constraints,
    motion_chunk_msg,
    pose_constraints,
    to_seconds,
)
from dancemosaic_ros.dance_node import DanceNode
from dancemosaic_core.inference.guidance import MAX_GUIDANCE_WEIGHT
from dancemosaic_ros.params import Param, integer, number, one_of
from dancemosaic_ros.run import run_nodes

FALLBACK_LEAD_S = 0.5      # lead_seconds 0 without a warm-up to measure the compute
LEAD_WARMUP_CHUNKS = 6     # lead_seconds 0: warm-up chunks timed (the first pays one-off costs)

PARAMS = {
    "model_dir": Param("", "model directory (tokenizer/ t2m/ music/ pose/); '' = the default trained model",
                       read_only=True),
    "device": Param("auto", "inference device: auto (CUDA when available, else CPU), cpu or cuda",
                    one_of("auto", "cpu", "cuda"), read_only=True),
    "genre": Param("", "genre prompt ('' = none; the model lists its genres when one is unknown)"),
    "text": Param("", "free-text prompt; wins over the genre when set"),
    "w_text": Param(4.0, "classifier-free logits guidance weight of the text (paper section 3.4)",
                    number(0, MAX_GUIDANCE_WEIGHT)),
    "w_music": Param(1.0, "guidance weight of the music tower", number(0, MAX_GUIDANCE_WEIGHT)),
    "w_pose": Param(1.0, "guidance weight of the pose tower (pose_constraints topic)",
                    number(0, MAX_GUIDANCE_WEIGHT)),
    "chunk_seconds": Param(0.4, "motion generated per step of the streaming continuation",
                           number(0, 10, above=True),
                           read_only=True),
    "lead_seconds": Param(0.0, "a chunk is generated this long before it plays (its music partly predicted "
                               "from the beat grid); 0 = sized at warm-up from the measured compute per chunk "
                               "(inference.streaming.lead_for; without warm-up 0.5 s)", number(0, 5), read_only=True),
    "seed": Param(0, "random seed of the sampler", integer(0, 2**63 - 1), read_only=True),
    "steps": Param(3, "masked-decoding iterations per chunk (paper section 3.4; fewer: lower latency)",
                   integer(1, 100), read_only=True),
    "itto_steps": Param(17, "ITTO gradient steps when a chunk is drafted, ahead of its music (beat-aware "
                            "rhythm term, constraints, robot limits)", integer(0, 1000), read_only=True),
    "refine_steps": Param(3, "ITTO steps that refine the drafted chunk on the beat grid of everything heard "
                             "just before it is due (0 = none: the draft's grid)", integer(0, 1000),
                          read_only=True),
    "rhythm_weight": Param(5.0, "beat-aware ITTO: weight of the term that puts the motion's speed dips on the "
                                "tracked beats (0 = off, the paper's method alone)", number(0.0, 100.0),
                           read_only=True),
    "energy_weight": Param(30.0, "beat-aware ITTO: how hard the dance is kept at the training corpus's speed for "
                                 "the genre", number(0.0, 100.0), read_only=True),
    "foot_weight": Param(10.0, "beat-aware ITTO: how hard the feet the sampled dance plants stay planted",
                         number(0.0, 100.0), read_only=True),
    "itto_lr": Param(0.3, "ITTO learning rate (Adam on the token embeddings)", number(0.0, 10.0, above=True),
                     read_only=True),
    "robot": Param("", "robot whose joint-limit proxy joins ITTO (config/robots/<robot>.yaml; '' = none)",
                   read_only=True),
    "max_gap_seconds": Param(2.0, "lost audio up to this long is filled with silence; longer restarts the stream",
                             number(0, 10)),
    "max_clock_offset": Param(10.0, "a new audio stream stamped further than this from now is refused (a wrong "
                                    "or jumped clock)", number(0, 3600, above=True)),
    "torch_threads": Param(1, "CPU threads for torch (0 = torch's default; more than 1 lets OpenMP spin against "
                              "the audio and ROS threads on a small CPU)", integer(0, 1024), read_only=True),
    "realtime_priority": Param(0, "SCHED_FIFO priority of the generation thread (0 = normal scheduling; needs "
                                  "CAP_SYS_NICE or an rtprio limit, see docs/ros.md)", integer(0, 99),
                               read_only=True),
    "warmup": Param(True, "generate one throw-away chunk on silence before the music starts", read_only=True),
}


class GeneratorNode(DanceNode):
    def __init__(self, **kwargs):
        super().__init__("generator_node", PARAMS, "generator/status", **kwargs)
        self.dancer = self._load_dancer()
        self.motion_publisher = self.create_publisher(MotionChunk, "motion", 10)
        self.create_subscription(PoseConstraint, "pose_constraints", self._on_constraints, 10)
        self.dropouts = self.late_chunks = self.short_drafts = 0
        self._draft_failed = None     # index of the chunk whose draft ahead failed (not retried)
        self.last_chunk = None
        self.origin = None            # ROS time (s) of the stream's first sample
        self._expected = None         # (sample_rate, next first_sample) of the audio stream
        self._constraints = None
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="generator", daemon=True)
        self._worker.start()

    def _load_dancer(self):
        import torch

        from dancemosaic_core.inference.guidance import GuidanceWeights
        from dancemosaic_core.inference.streaming import StreamingDancer
        p = self.params
        if p["torch_threads"] > 0:
            torch.set_num_threads(p["torch_threads"])
        model_dir = p["model_dir"]
        if not model_dir:
            from dancemosaic_core.inference.loader import DEFAULT_MODEL_DIR
            model_dir = str(DEFAULT_MODEL_DIR)
        joint_limit_fn = None
        if p["robot"]:
            from dancemosaic_core.retarget import joint_limit_proxy, load_robot
            joint_limit_fn = joint_limit_proxy(load_robot(p["robot"]))
        dancer = StreamingDancer.from_pretrained(
            model_dir, device=p["device"], genre=p["genre"] or None, text=p["text"] or None,
            # lead 0: sized at warm-up from the measured compute; until then the fallback
            chunk_seconds=p["chunk_seconds"], lead_seconds=p["lead_seconds"] or FALLBACK_LEAD_S, seed=p["seed"],
            steps=p["steps"], itto_steps=p["itto_steps"], refine_steps=p["refine_steps"], itto_lr=p["itto_lr"],
            rhythm_weight=p["rhythm_weight"],
            energy_weight=p["energy_weight"], foot_weight=p["foot_weight"],
            weights=GuidanceWeights(text=p["w_text"], music=p["w_music"], pose=p["w_pose"]),
            joint_limit_fn=joint_limit_fn, realtime=True)
        self.get_logger().info(f"model {model_dir} on {dancer.pipe.model.device}; chunks of "
                               f"{dancer.chunk_frames / dancer.fps:.1f} s, "
                               + (f"{p['lead_seconds']:.2f} s ahead" if p["lead_seconds"] else "lead sized at warm-up"))
        return dancer

    # --- callbacks: validate and queue ------------------------------------------------------
    def _bad(self, reason: str, what: str) -> None:
        """Refuse one input; the status goes out at once (this node has no status timer)."""
        self.refuse(reason, what)
        self.publish_status()

    def _on_audio(self, msg: AudioChunk) -> None:
        try:
            mono = audio_mono(msg)
        except DanceMosaicError as exc:
            self._bad("audio", str(exc))
            return
        stamp = to_seconds(msg.header.stamp)
        if self._expected is not None and self._expected[0] == msg.sample_rate:
            gap = msg.first_sample - self._expected[1]
            if 0 < gap <= self.params["max_gap_seconds"] * msg.sample_rate:
                self.dropouts += 1
                self.message = f"{gap / msg.sample_rate:.3f} s of audio lost; filled with silence"
                self.get_logger().warning(self.message)
                self._inbox.put(("audio", np.zeros(gap, np.float32), msg.sample_rate))
            elif gap != 0:
                self._expected = None
                self.get_logger().warning(f"audio stream jumped by {gap} samples; starting a new stream")
        if self._expected is None or self._expected[0] != msg.sample_rate:
            offset = stamp - self.get_clock().now().nanoseconds * 1e-9
            if abs(offset) > self.params["max_clock_offset"]:
                self._expected = None
                self._bad("audio", f"audio stream stamped {offset:+.3g} s from now: its chunks could not play; "
                          f"fix the audio clock (accepted: within max_clock_offset, "
                          f"{self.params['max_clock_offset']:g} s)")
                return
            self._inbox.put(("reset", stamp, msg.sample_rate))
        self._expected = (msg.sample_rate, msg.first_sample + len(mono))
        self._inbox.put(("audio", mono, msg.sample_rate))

    def _on_constraints(self, msg: PoseConstraint) -> None:
        stamp = to_seconds(msg.header.stamp)
        if stamp > 0 and self.origin is None:
            self._bad("constraints", "pose constraints before any audio: their stamp cannot be placed on the "
                      "music clock; send them once the music plays (or with a zero stamp: stream seconds)")
            return
        try:
            new = pose_constraints(msg, stamp - self.origin if stamp > 0 else 0.0)
        except DanceMosaicError as exc:
            self._bad("constraints", f"refused pose constraints: {exc}")
            return
        if msg.mode == PoseConstraint.MODE_CLEAR:
            self._constraints = None
        elif msg.mode == PoseConstraint.MODE_APPEND:
            self._constraints = merge_constraints(self._constraints, new)
        else:
            self._constraints = new
        self._inbox.put(("constraints", self._constraints))

    def check_parameter_changes(self, values: dict) -> str | None:
        if "genre" in values or "text" in values:
            try:   # an unknown genre raises, naming the model's genres
                self.dancer.pipe.model.prompt(values.get("genre", self.params["genre"]) or None,
                                          values.get("text", self.params["text"]) or None)
            except DanceMosaicError as exc:
                return str(exc)
        return None

    def parameters_changed(self, names: set[str]) -> None:
        if names & {"genre", "text"}:
            self._inbox.put(("prompt", self.params["genre"] or None, self.params["text"] or None))
        if names & {"w_text", "w_music", "w_pose"}:
            self._inbox.put(("weights", self.params["w_text"], self.params["w_music"], self.params["w_pose"]))

    # --- worker thread: the only user of the dancer ----------------------------------------
    def _work(self) -> None:
        if self.params["torch_threads"] > 0:
            import torch
            torch.set_num_threads(self.params["torch_threads"])   # OpenMP teams are per thread
        if self.params["warmup"]:
            self._warmup()
        if self.params["torch_threads"] > 0:
            # and the music features' BLAS (librosa's constant-Q filters; loaded by the warm-up):
            # a second BLAS thread took ~2x their CPU for ~20 % less wall time, from the other nodes
            from threadpoolctl import threadpool_limits
            self._blas_limits = threadpool_limits(limits=self.params["torch_threads"], user_api="blas")
        # everything allocated so far (model, caches) lives to the end: out of the collector's
        # sight, a full collection no longer walks it (200-350 ms with the GIL held)
        gc.collect()
        gc.freeze()
        self._set_realtime_priority(self.params["realtime_priority"])
        # listen only once warm: a file-playing audio node waits for this subscriber
        self.create_subscription(AudioChunk, "audio", self._on_audio, 100)
        self.message = "ready: waiting for audio"
        self.publish_status()
        while not self._stop.is_set():
            try:
                item = self._inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            while True:
                try:
                    self._apply(item)
                except Exception as exc:  # the worker must outlive any one bad input
                    self.message = f"could not apply {item[0]}: {exc}"
                    self.get_logger().error(self.message)
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
            while self.origin is not None and not self._stop.is_set() and self.dancer.ready():
                if not self._generate():
                    break
            if self.origin is not None and not self._stop.is_set():
                self._prepare()

    def _set_realtime_priority(self, priority: int) -> None:
        """Real-time scheduling of this thread where the OS allows it (Linux, with the rights)."""
        if priority <= 0:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            self.get_logger().info(f"generation thread on SCHED_FIFO priority {priority}")
        except (AttributeError, PermissionError, OSError) as exc:
            self.get_logger().warning(f"realtime_priority {priority} not granted ({exc}); normal scheduling. "
                                      "Allow it with `ulimit -r 99` / an rtprio line in /etc/security/limits.conf "
                                      "or CAP_SYS_NICE")

    def _warmup(self) -> None:
        """Pay the one-off costs (feature JIT, first model calls) before the music starts; with
        lead_seconds 0, time a few chunks and size the lookahead from the slowest."""
        from dancemosaic_core.inference.streaming import LEAD_MARGIN_S, LEAD_SAFETY, lead_for
        auto = not self.params["lead_seconds"]
        try:
            # a free-text prompt set while dancing must not build the text encoder (~5 s; the
            # genre prompts ship with the model) in the generation thread: build it now
            self.dancer.pipe.model.text_encoder.load()
            took = self.dancer.warmup(chunks=LEAD_WARMUP_CHUNKS if auto else 1)
        except Exception as exc:  # a broken model shows up here first; the node reports and goes on
            self.get_logger().error(f"warm-up generation failed: {exc}")
            self.dancer.reset()
            return
        self.get_logger().info(f"warm-up took {took:.2f} s")
        if auto:
            computes = self.dancer.warm_compute_seconds
            self.dancer.set_lead(lead_for(computes))
            self.get_logger().info(f"lookahead {self.dancer.lead_seconds:.2f} s: the slowest of {len(computes)} "
                                   f"warm-up chunks took {max(computes):.3f} s (x{LEAD_SAFETY:g} + {LEAD_MARGIN_S:g} s)")

    def _apply(self, item) -> None:
        kind = item[0]
        if kind == "reset":
            _, self.origin, rate = item
            self.dancer.reset(sample_rate=rate)
            self._draft_failed = None
        elif kind == "audio":
            _, mono, rate = item
            if len(mono):
                self.dancer.push_audio(mono, sample_rate=rate)
        elif kind == "prompt":
            self.dancer.set_prompt(genre=item[1], text=item[2])
        elif kind == "weights":
            self.dancer.set_weights(text=item[1], music=item[2], pose=item[3])
        elif kind == "constraints":
            self.dancer.set_constraints(item[1])

    def _prepare(self) -> None:
        """Draft the next chunk while its music plays (StreamingDancer.prepare); next_chunk
        then only refines it on the newest beat grid."""
        if self._draft_failed == self.dancer.index:
            return                # once per chunk: the worker loops on every audio block
        try:
            self.dancer.prepare()
        except Exception as exc:  # next_chunk drafts again and reports what fails
            self._draft_failed = self.dancer.index
            self.get_logger().warning(f"drafting chunk {self.dancer.index} failed: {exc}")

    def _generate(self) -> bool:
        heard = self.dancer.seconds_heard
        try:
            chunk = self.dancer.next_chunk()
        except Exception as exc:  # keep the node alive; the retarget node extends and eases meanwhile
            self.state, self.message = DanceStatus.STATE_ERROR, f"generation failed: {exc}"
            self.get_logger().error(self.message)
            self.publish_status()
            time.sleep(1.0)
            return False
        stamp = self.origin + chunk.start_time
        msg = motion_chunk_msg(chunk, stamp_seconds=stamp, audio_time=heard)
        self.motion_publisher.publish(msg)
        now = self.get_clock().now().nanoseconds * 1e-9
        if now > stamp:
            self.late_chunks += 1
            self.message = f"chunk {chunk.index} published {now - stamp:.3f} s after it should start playing"
            self.get_logger().warning(self.message)
        elif 0 < chunk.info.get("draft_itto_steps", 0) < self.params["itto_steps"]:
            self.short_drafts += 1
            self.message = (f"CPU short: {self.short_drafts} drafts cut to fewer ITTO steps (chunk {chunk.index}: "
                            f"{chunk.info['draft_itto_steps']} of {self.params['itto_steps']})")
        self.state, self.last_chunk = DanceStatus.STATE_DANCING, chunk
        latency = now - (self.origin + heard)
        self.publish_status(latency_s=latency if math.isfinite(latency) else 0.0)
        return True

    def status_fields(self, msg: DanceStatus) -> None:
        chunk = self.last_chunk
        if chunk is not None:
            msg.tempo_bpm, msg.beat_phase = chunk.tempo_bpm, chunk.beat_phase
            msg.tempo_confidence = float(self.dancer.features.tracker.confidence) if chunk.tempo_bpm else 0.0
            msg.chunk_index, msg.chunk_seconds = chunk.index, len(chunk.joints) / chunk.fps
            msg.compute_s = chunk.compute_seconds
        msg.tempo_confidence = float(min(1.0, max(0.0, msg.tempo_confidence)))
        msg.deadline_misses, msg.audio_dropouts = self.late_chunks, self.dropouts
        msg.genre, msg.text = self.params["genre"], self.params["text"]

    def destroy_node(self):
        self._stop.set()
        self._worker.join(timeout=30.0)
        return super().destroy_node()


def main(args=None) -> int:
    return run_nodes([GeneratorNode], args, executor="single")


if __name__ == "__main__":
    raise SystemExit(main())
