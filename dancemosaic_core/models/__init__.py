"""DanceMosaic networks (paper sections 3.1-3.2): the RVQ-VAE motion tokenizer, the T2M masked
transformer with its residual transformer, the music/pose towers, and their checkpoints."""
from dancemosaic_core.models.checkpoint import (
           load_checkpoint,
           load_normalizer,
           save_checkpoint,
)
from dancemosaic_core.models.mask_transformer import (
           MaskTransformer,
           ResidualTransformer,
           T2MModel,
           TransformerConfig,
)
from dancemosaic_core.models.tokenizer import MotionTokenizer, TokenizerConfig
from dancemosaic_core.models.towers import MultiTowerModel, Tower, TowerConfig

__all__ = ["MotionTokenizer", "TokenizerConfig", "MaskTransformer", "ResidualTransformer", "T2MModel",
           "TransformerConfig", "Tower", "TowerConfig", "MultiTowerModel", "load_checkpoint",
           "load_normalizer", "save_checkpoint"]
