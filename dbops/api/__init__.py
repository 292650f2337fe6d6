"""dbops.api."""
