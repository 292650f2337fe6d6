"""dbops: a Kubernetes operator for databases, users, roles, grants and backups on existing database servers."""

__version__ = "0.1.0"
