"""Audio in, per-frame music features out: files (offline, cached) and live streams.

Public API: load_audio, is_silent, music_features, music_features_cached, StreamingMusicFeatures,
OnlineBeatTracker, TempoTracker (audio blocks -> tempo and beat phase), predict_features,
dance_beats (offline beats, dance-level tempo and confidence); MIDI rendering and beat ground
truth in audio.midi."""
from dancemosaic_core.audio.beat import (
                                         BeatState,
                                         OnlineBeatTracker,
                                         TempoTracker,
                                         predict_features,
)
from dancemosaic_core.audio.features import (
                                         COLUMN_NAMES,
                                         RECIPE_VERSION,
                                         feature_sr,
                                         music_features,
                                         music_features_cached,
)
from dancemosaic_core.audio.io import is_silent, load_audio
from dancemosaic_core.audio.streaming import StreamingMusicFeatures
from dancemosaic_core.audio.tempo import Beats, StreamingOnset, Tempo, dance_beats

__all__ = ["COLUMN_NAMES", "RECIPE_VERSION", "BeatState", "Beats", "OnlineBeatTracker",
           "StreamingMusicFeatures", "StreamingOnset", "Tempo", "TempoTracker", "dance_beats", "feature_sr",
           "is_silent", "load_audio", "music_features", "music_features_cached", "predict_features"]
