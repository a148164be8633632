"""Bad input from the network never yields a 500 or a non-JSON error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api import ROUTES
from tests.conftest import Client
from tests.controller.test_auth import add_user, login

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["username", "password", "role", "disabled", "token",
                                       "current_password", "new_password", "x"]) | st.text(),
                      children, max_size=5),
    max_leaves=12,
)
bodies = json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300)
WRITE_ROUTES = [r for r in ROUTES if r.method != "GET"]
path_params = st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s != "..")


async def assert_clean_error_or_ok(resp: Any) -> None:
    assert resp.status < 500, (resp.method, resp.url, resp.status, await resp.text())
    if resp.status >= 400:
        body = await resp.json()
        assert set(body) == {"error"}
        assert isinstance(body["error"]["code"], str)
        assert isinstance(body["error"]["message"], str)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route_index=st.integers(0, len(WRITE_ROUTES) - 1), body=bodies, param=path_params)
async def test_random_bodies_as_admin(app_client: Client, route_index: int, body: bytes,
                                      param: str) -> None:
    route = WRITE_ROUTES[route_index]
    if route.path in ("/api/v1/logout", "/api/v1/me/password"):
        return  # these end the fixture's session; covered in test_auth
    if not app_client.session.cookie_jar.filter_cookies(app_client.make_url("/")):
        add_user(app_client, "quantri", "admin")
    me = await app_client.get("/api/v1/me")
    if me.status != 200:
        csrf = (await login(app_client, "quantri"))["csrf_token"]
    else:
        csrf = (await me.json())["csrf_token"]
    path = route.path.replace("{username}", param).replace("{device_id}", param).replace(
        "{bridge_id}", param)
    resp = await app_client.request(route.method, path, data=body, headers={
        "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    await assert_clean_error_or_ok(resp)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#%"),
                    max_size=60),
       method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
async def test_random_paths_and_methods(app_client: Client, path: str, method: str) -> None:
    resp = await app_client.request(method, "/" + path.lstrip("/"))
    assert resp.status < 500
    if resp.status >= 400 and not resp.content_type.startswith("text/html"):
        await assert_clean_error_or_ok(resp)


async def test_bad_query_parameters(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    await login(app_client, "quantri")
    for query in ("limit=abc", "limit=0", "limit=100000", "before_id=-1", "before_id=x",
                  "action=" + "a" * 500, "limit=1e3"):
        resp = await app_client.get("/api/v1/audit?" + query)
        await assert_clean_error_or_ok(resp)


async def test_oversized_body_is_refused_with_413(app_client: Client) -> None:
    resp = await app_client.post("/api/v1/login", data=b"x" * (300 * 1024),
                                 headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


async def test_method_not_allowed_is_json(app_client: Client) -> None:
    resp = await app_client.delete("/api/v1/site")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
