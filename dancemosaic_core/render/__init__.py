"""Pictures of motion: the 3-D skeleton renderer (skeleton3d) and video/GIF writing with music
(video). The `dancemosaic render` command is dancemosaic_core.cli.render."""
