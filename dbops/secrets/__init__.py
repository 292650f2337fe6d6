"""dbops.secrets."""
