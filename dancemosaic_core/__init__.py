"""DanceMosaic core: model, training, inference, metrics, retargeting and their command line.

Plain Python: no middleware. The ROS 2 nodes are built on top of it, never the other way round."""

__version__ = "0.1.0"
