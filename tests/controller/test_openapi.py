"""The OpenAPI document is valid and describes exactly the routes the server has."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from tests.conftest import Client, app_of


async def test_document_is_valid_openapi_and_matches_the_router(app_client: Client) -> None:
    resp = await app_client.get("/api/openapi.json")
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    validate(doc)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for resource in app_of(app_client).router.resources():
        info = resource.get_info()
        path = info.get("formatter") or info.get("path")
        if path is None or path == "/":  # static files and the console page itself
            continue
        for route in resource:
            if route.method != "HEAD":
                served.add((route.method, path))
    assert documented == served


async def test_protected_operations_list_their_roles(app_client: Client) -> None:
    doc = await (await app_client.get("/api/openapi.json")).json()
    audit = doc["paths"]["/api/v1/audit"]["get"]
    assert audit["x-roles"] == ["admin", "auditor"]
    assert "403" in audit["responses"]
    assert "security" not in doc["paths"]["/healthz"]["get"]
