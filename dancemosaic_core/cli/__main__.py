"""`python -m dancemosaic_core.cli ...` (used by torchrun for multi-GPU training)."""
import sys

from dancemosaic_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
