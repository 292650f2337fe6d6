"""dbops.cli."""
