"""Functions that only read."""
