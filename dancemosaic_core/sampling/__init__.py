"""Sampling pieces shared by training and inference (the masking schedule)."""
