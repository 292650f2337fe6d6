"""dbops.controllers."""
