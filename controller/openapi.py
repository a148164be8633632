"""The OpenAPI 3 document, built from the same route table the router uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from controller.web import Route

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build_openapi(routes: Sequence[Route], version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document describing ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.in_openapi:
            continue
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": f"{route.method.lower()}_{_slug(route.path)}",
            "responses": {
                str(route.status): {
                    "description": "OK",
                    "content": {route.content_type: {"schema": dict(route.response)}},
                },
                "400": _error("Bad input"),
            },
        }
        params: list[dict[str, Any]] = [dict(p) for p in route.params]
        for name in re.findall(r"{(\w+)}", route.path):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string"}})
            op["responses"]["404"] = _error("Not found")
        if params:
            op["parameters"] = params
        if route.request is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": dict(route.request)}}}
        if route.roles is not None:
            op["security"] = [{"cookieSession": []}]
            op["x-roles"] = sorted(route.roles)
            op["responses"]["401"] = _error("Not logged in or session expired")
            op["responses"]["403"] = _error("Role not allowed, or CSRF token missing")
        if route.path == "/api/v1/login":
            op["responses"]["401"] = _error("Wrong username or password")
            op["responses"]["423"] = _error("Account locked after repeated failures")
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "diemcau site controller", "version": version,
                 "description": "Console and REST API of one conference site. State-changing "
                                "requests made with the session cookie send the login's "
                                "csrf_token in the X-CSRF-Token header."},
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR_SCHEMA},
            "securitySchemes": {"cookieSession": {"type": "apiKey", "in": "cookie",
                                                  "name": "diemcau_session"}},
        },
    }


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
