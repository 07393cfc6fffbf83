"""What every package of the core shares: the user-facing error type (errors)."""
