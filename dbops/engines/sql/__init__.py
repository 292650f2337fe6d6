"""dbops.engines.sql."""
