"""Inference (paper section 3.4): the one masked decoding loop, classifier-free logits guidance
and inference-time token optimisation. Model-agnostic: the model enters as callables."""
