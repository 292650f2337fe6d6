"""dbops.engines."""
