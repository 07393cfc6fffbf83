"""Thin ROS 2 nodes around dancemosaic_core: they convert messages and call core code.

The interfaces from msg/ are generated into the Python package `dancemosaic` (the ROS package
name): `from dancemosaic.msg import DanceStatus, PoseConstraint, AudioChunk`.
"""
