"""Applications that run the ROS 2 pipeline as child processes: `dancemosaic demo` and
`dancemosaic bench live`.

They join the core's `dancemosaic` command line through setup.py's entry points (groups
`dancemosaic.commands` and `dancemosaic.benchmarks`), so dancemosaic_core never names them.
"""
