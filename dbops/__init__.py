"""dbops: a Kubernetes operator for databases, users, roles, grants and backups on existing database servers."""

from dbops.k8s_imports import install as _install_lazy_kubernetes_imports

__version__ = "0.1.0"

# Before any dbops module imports kubernetes-asyncio: keep its ~39 MB of unused generated classes out of memory.
_install_lazy_kubernetes_imports()
