"""The user-facing error: raised for bad input with a message that names the problem and the
fix. The CLI prints it without a traceback; ROS nodes log it and keep running."""


class DanceMosaicError(Exception):
    """Bad input or a missing asset, described for the person who can fix it."""
