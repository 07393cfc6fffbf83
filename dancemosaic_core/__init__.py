"""DanceMosaic core: model, training, inference, metrics and retargeting. Never imports rclpy."""

__version__ = "0.1.0"
