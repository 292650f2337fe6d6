"""The lazy kubernetes-asyncio import shells: the runtime's pieces load, the generated classes do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dbops.k8s_imports import snake_case


def run_fresh(code: str) -> str:
    """Run `code` in a new interpreter (the shells only install before kubernetes-asyncio is first imported)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_snake_case_matches_the_generated_file_names() -> None:
    assert snake_case("ApiClient") == "api_client"
    assert snake_case("V1ObjectMeta") == "v1_object_meta"
    assert snake_case("CoreV1Api") == "core_v1_api"
    assert snake_case("V1beta1CustomResourceDefinition") == "v1beta1_custom_resource_definition"


def test_operator_import_leaves_models_and_apis_unloaded() -> None:
    out = run_fresh(
        """
        import sys
        import dbops.__main__
        loaded = [m for m in sys.modules if m.startswith("kubernetes_asyncio.client.")]
        print(sum(1 for m in loaded if ".models." in m or ".api." in m), "client.api_client" in " ".join(loaded))
        """
    )
    assert out.split() == ["0", "True"]


def test_names_resolve_on_demand_like_the_eager_package() -> None:
    out = run_fresh(
        """
        import dbops
        from kubernetes_asyncio import client, config
        from kubernetes_asyncio.client import ApiClient, Configuration, ApiException
        meta = client.models.V1ObjectMeta(name="x")
        print(ApiClient.__module__, Configuration.__module__, ApiException.__module__, meta.name,
              client.CoreV1Api.__name__, callable(config.load_kube_config), callable(config.load_incluster_config))
        """
    )
    assert out.split() == [
        "kubernetes_asyncio.client.api_client",
        "kubernetes_asyncio.client.configuration",
        "kubernetes_asyncio.client.exceptions",
        "x",
        "CoreV1Api",
        "True",
        "True",
    ]


def test_unknown_names_raise_attribute_error() -> None:
    out = run_fresh(
        """
        import dbops
        from kubernetes_asyncio import client
        for owner, name in ((client, "NoSuchThing"), (client.models, "V1NoSuchModel")):
            try:
                getattr(owner, name)
            except AttributeError as error:
                print("AttributeError")
        """
    )
    assert out.split() == ["AttributeError", "AttributeError"]


def test_an_earlier_eager_import_is_left_alone() -> None:
    out = run_fresh(
        """
        import kubernetes_asyncio
        import dbops
        from dbops.k8s_imports import install
        print(install(), type(kubernetes_asyncio.client.V1ObjectMeta).__name__)
        """
    )
    assert out.split() == ["False", "type"]
