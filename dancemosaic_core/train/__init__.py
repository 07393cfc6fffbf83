"""Synchronized progressive training (paper section 3.3): one flat loop per stage
(stage_tokenizer, stage_t2m, stage_towers) over the shared trainer (trainer.py)."""
