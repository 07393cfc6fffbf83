"""Evaluation: the paper's metrics as the public reference implementations define them
(see docs/eval.md), protocol presets, and the `dancemosaic eval` report.

Public API: kinetic_features, geometric_features, fid, diversity, frechet_distance,
normalize_by_gt, motion_beats, music_beats, beat_align_score, motion_to_music_score,
truncate_beats, foot_skating, foot_skating_ratio, physical_foot_contact, mpjpe,
joint_limit_violations, velocity_limit_violations, balance_rate, Protocol, PROTOCOLS,
get_protocol, motion_features."""
from dancemosaic_core.eval.beats import (
                                         beat_align_score,
                                         motion_beats,
                                         motion_to_music_score,
                                         music_beats,
                                         truncate_beats,
)
from dancemosaic_core.eval.distribution import (
                                         diversity,
                                         fid,
                                         frechet_distance,
                                         normalize_by_gt,
)
from dancemosaic_core.eval.foot import (
                                         foot_skating,
                                         foot_skating_ratio,
                                         physical_foot_contact,
)
from dancemosaic_core.eval.geometric import geometric_features
from dancemosaic_core.eval.kinetic import kinetic_features
from dancemosaic_core.eval.protocols import (
                                         PROTOCOLS,
                                         Protocol,
                                         get_protocol,
                                         motion_features,
)
from dancemosaic_core.eval.robot import (
                                         balance_rate,
                                         joint_limit_violations,
                                         mpjpe,
                                         velocity_limit_violations,
)

__all__ = ["PROTOCOLS", "Protocol", "balance_rate", "beat_align_score", "diversity", "fid",
           "foot_skating", "foot_skating_ratio", "frechet_distance", "geometric_features",
           "get_protocol", "joint_limit_violations", "kinetic_features", "motion_beats",
           "motion_features", "motion_to_music_score", "mpjpe", "music_beats", "normalize_by_gt",
           "physical_foot_contact", "truncate_beats", "velocity_limit_violations"]
