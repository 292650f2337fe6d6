"""dbops.backup."""
