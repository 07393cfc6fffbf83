"""Text encoders (paper section 3.1: the text embedding is the T2M's first token)."""
from dancemosaic_core.text.encoders import (
    TEXT_ENCODER_KINDS,
    ClipEncoder,
    MiniLMEncoder,
    PromptTableEncoder,
    TextEncoder,
    build_text_encoder,
)

__all__ = ["TEXT_ENCODER_KINDS", "TextEncoder", "MiniLMEncoder", "ClipEncoder", "PromptTableEncoder",
           "build_text_encoder"]
