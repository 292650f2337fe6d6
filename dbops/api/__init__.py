"""The Kubernetes API of the operator, ``dbops.dbprovision.io/v1alpha1`` (spec: api.md).

Layout:

* :mod:`dbops.api.meta` — pydantic base, CEL rule and immutability markers, ObjectMeta, Condition, Resource envelope.
* :mod:`dbops.api.common`, :mod:`dbops.api.storage`, :mod:`dbops.api.grants` — shared sub-types (api.md section 5).
* one module per kind: ``instance``, ``database``, ``user``, ``role``, ``grant``, ``backup``, ``schedule``,
  ``restore`` (pairs of namespaced/cluster kinds that share a spec live together).
* :mod:`dbops.api.kinds` — the registry of the 11 kinds (plural, scope, finalizer, phases, printer columns, model).
* :mod:`dbops.api.validation` — offline admission check (schema + CEL equivalents + immutability).
* :mod:`dbops.api.schema`, :mod:`dbops.api.crdgen`, :mod:`dbops.api.rbac` — generation of config/crd and config/rbac
  (``python -m dbops.api.crdgen [--check]``).

Nothing is re-exported here so that importing a small module does not build every model.
"""
