"""Benchmarks, one module per `dancemosaic bench NAME` (see dancemosaic_core/cli/bench.py)."""
