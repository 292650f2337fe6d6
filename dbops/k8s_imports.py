"""Import kubernetes-asyncio's transport and config loaders without its generated API classes and models.

The runtime uses three things from kubernetes-asyncio: `Configuration`, `ApiClient` (the aiohttp session with TLS
and token refresh) and the kubeconfig / in-cluster loaders (exec plugins, OIDC, token files). Its package
`__init__` modules eagerly import every generated API class and ~900 model classes, which costs about 39 MB of RSS —
more than a third of the operator's memory budget (issue 5: ≤ 100 MB with 1,000 users) — for code the runtime never
calls, since it speaks raw JSON.

`install()` puts lightweight package objects for `kubernetes_asyncio`, `kubernetes_asyncio.client` and
`kubernetes_asyncio.client.models` into `sys.modules` before anything imports them. Their submodules load from the
real package directories as usual; a name asked of a package shell (`client.ApiClient`, `models.V1ObjectMeta`,
`kubernetes_asyncio.config`) is imported on first use from the module that defines it. If kubernetes-asyncio was
already imported (a test or a plugin did it first) nothing is changed and everything keeps working, just eagerly.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE = "kubernetes_asyncio"
CLIENT = f"{PACKAGE}.client"
MODELS = f"{CLIENT}.models"
EXCEPTION_NAMES = frozenset({"ApiException", "ApiValueError", "ApiTypeError", "ApiKeyError", "OpenApiException"})


def snake_case(name: str) -> str:
    """`V1ObjectMeta` → `v1_object_meta`, `ApiClient` → `api_client`: the generated modules' file names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _shell(name: str, directory: Path, resolve: Callable[[str], Any]) -> types.ModuleType:
    module = types.ModuleType(name, f"lazy shell of {name} (dbops.k8s_imports)")
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    module.__spec__ = spec
    module.__path__ = [str(directory)]
    module.__package__ = name

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = resolve(attr)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    return module


def _submodule(package: str, name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.{name}":
            raise
        return None


def _client_attribute(name: str) -> Any:
    if name in EXCEPTION_NAMES:
        return getattr(importlib.import_module(f"{CLIENT}.exceptions"), name)
    if (module := _submodule(CLIENT, name)) is not None:  # rest, api_client, configuration, exceptions, api, …
        return module
    snake = snake_case(name)
    for package in (CLIENT, f"{CLIENT}.api", MODELS):
        if (module := _submodule(package, snake)) is not None and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {CLIENT!r} has no attribute {name!r}")


def _model_attribute(name: str) -> Any:
    module = _submodule(MODELS, snake_case(name))
    if module is None or not hasattr(module, name):
        raise AttributeError(f"module {MODELS!r} has no attribute {name!r}")
    return getattr(module, name)


def _top_attribute(name: str) -> Any:
    module = _submodule(PACKAGE, name)
    if module is None:
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
    return module


def install() -> bool:
    """Install the shells unless kubernetes-asyncio is already imported (or absent); True when installed."""
    if PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(next(iter(spec.submodule_search_locations)))
    top = _shell(PACKAGE, root, _top_attribute)
    client = _shell(CLIENT, root / "client", _client_attribute)
    models = _shell(MODELS, root / "client" / "models", _model_attribute)
    top.client = client  # type: ignore[attr-defined]
    client.models = models  # type: ignore[attr-defined]
    return True
