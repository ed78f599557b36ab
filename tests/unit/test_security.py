"""Authentication and cross-site protection (backend/api/security.py): tokens, Host, Origin, JSON bodies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from api_support import NB201_SPEC, Api, make_api, seed_search
from sqlalchemy import text

from backend.db import repository
from backend.db.session import session_scope
from backend.settings import Settings


def _token(api: Api, name: str = "alice") -> str:
    with session_scope(api.settings, write=True) as s:
        return repository.create_token(s, name)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def secured(tmp_path: Path) -> Api:
    return make_api(tmp_path, auth="required")


def test_write_without_token_is_401_when_auth_required(secured: Api) -> None:
    r = secured.client.post("/api/searches", json=NB201_SPEC)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in r.json()["detail"]
    assert secured.dispatcher.calls == []


def test_write_with_token_records_its_name_as_created_by(secured: Api) -> None:
    token = _token(secured)
    r = secured.client.post("/api/searches", json=NB201_SPEC, headers=_bearer(token))
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    assert secured.client.get(f"/api/searches/{search_id}").json()["created_by"] == "alice"
    assert secured.client.get("/api/searches").json()["items"][0]["created_by"] == "alice"
    clone = secured.client.post(f"/api/searches/{search_id}/clone", headers=_bearer(token))
    assert secured.client.get(f"/api/searches/{clone.json()['id']}").json()["created_by"] == "alice"
    with session_scope(secured.settings) as s:
        assert repository.list_tokens(s)[0].last_used_at is not None


def test_unknown_or_revoked_token_is_401(secured: Api) -> None:
    token = _token(secured)
    search_id, _ = seed_search(secured.settings)
    r = secured.client.post(f"/api/searches/{search_id}/pause", headers=_bearer("not-a-token"))
    assert r.status_code == 401 and "invalid" in r.json()["detail"]
    assert secured.client.post(f"/api/searches/{search_id}/pause", headers=_bearer(token)).status_code == 200
    with session_scope(secured.settings, write=True) as s:
        repository.revoke_token(s, "alice")
    r = secured.client.post(f"/api/searches/{search_id}/resume", headers=_bearer(token))
    assert r.status_code == 401
    assert secured.client.delete(f"/api/searches/{search_id}").status_code == 401


def test_reads_stay_public_by_default_when_auth_required(secured: Api) -> None:
    assert secured.client.get("/api/searches").status_code == 200
    assert secured.client.get("/metrics").status_code == 200


def test_private_reads_need_the_token_except_healthz_and_page_shell(tmp_path: Path) -> None:
    api = make_api(tmp_path, auth="required", auth_reads="private")
    token = _token(api)
    for path in ("/api/searches", "/api/spaces", "/metrics"):
        assert api.client.get(path).status_code == 401, path
        assert api.client.get(path, headers=_bearer(token)).status_code == 200, path
    for path in ("/healthz", "/", "/new", "/searches/1", "/static/js/api.js"):
        assert api.client.get(path).status_code == 200, path


def test_auth_off_accepts_writes_and_records_no_creator(tmp_path: Path) -> None:
    api = make_api(tmp_path, auth="off")
    r = api.client.post("/api/searches", json=NB201_SPEC)
    assert r.status_code == 201
    assert api.client.get(f"/api/searches/{r.json()['id']}").json()["created_by"] is None


@pytest.mark.parametrize(
    ("host", "auth", "enabled"),
    [
        ("127.0.0.1", "auto", False),
        ("::1", "auto", False),
        ("localhost", "auto", False),
        ("0.0.0.0", "auto", True),
        ("192.168.1.20", "auto", True),
        ("nasboard.example.com", "auto", True),
        ("127.0.0.1", "required", True),
        ("0.0.0.0", "off", False),
    ],
)
def test_auth_auto_is_on_beyond_loopback(tmp_path: Path, host: str, auth: str, enabled: bool) -> None:
    assert Settings(data_dir=tmp_path, host=host, auth=auth).auth_enabled is enabled


def test_tokens_are_stored_hashed(secured: Api) -> None:
    token = _token(secured)
    with session_scope(secured.settings) as s:
        rows = s.execute(text("SELECT name, token_hash FROM api_tokens")).all()
    assert rows == [("alice", hashlib.sha256(token.encode()).hexdigest())]
    assert len(token) >= 40  # 32 random bytes, URL-safe
    database = (secured.settings.data_dir / "nasboard.db").read_bytes()
    assert token.encode() not in database


def test_duplicate_token_name_is_refused(secured: Api) -> None:
    _token(secured)
    with pytest.raises(repository.TokenExists), session_scope(secured.settings, write=True) as s:
        repository.create_token(s, "alice")


# --- cross-site protection (holds with auth off) ------------------------------------------------------------
@pytest.fixture()
def open_api(tmp_path: Path) -> Api:
    return make_api(tmp_path, auth="off")


@pytest.mark.parametrize("action", ["cancel", "clone"])
def test_cross_site_form_post_to_cancel_is_refused(open_api: Api, action: str) -> None:
    search_id, _ = seed_search(open_api.settings)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = open_api.client.post(f"/api/searches/{search_id}/{action}", content=b"x=1", headers=form)
    assert r.status_code == 415
    r = open_api.client.post(
        f"/api/searches/{search_id}/{action}", headers={**form, "Origin": "https://evil.example"}
    )
    assert r.status_code in (403, 415)
    with session_scope(open_api.settings) as s:
        assert repository.get_search(s, search_id).status == "running"
    assert open_api.client.get("/api/searches").json()["total"] == 1  # no clone either


def test_body_without_json_content_type_is_415(open_api: Api) -> None:
    for headers in ({"Content-Type": "text/plain"}, {}):
        r = open_api.client.post("/api/searches", content=b'{"name": "x"}', headers=headers)
        assert r.status_code == 415, headers
        assert "application/json" in r.json()["detail"]
    ok = open_api.client.post(
        "/api/searches", json=NB201_SPEC, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201


def test_foreign_origin_write_is_403_own_origin_and_no_origin_pass(open_api: Api) -> None:
    search_id, _ = seed_search(open_api.settings)
    url = f"/api/searches/{search_id}/pause"
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        r = open_api.client.post(url, headers={"Origin": origin})
        assert r.status_code == 403, origin
        assert "NASBOARD_ALLOWED_ORIGINS" in r.json()["detail"]
    assert open_api.client.post(url, headers={"Origin": "http://testserver"}).status_code == 200
    assert open_api.client.post(f"/api/searches/{search_id}/resume").status_code == 200  # CLI: no Origin


def test_allowed_origins_setting_admits_a_listed_origin(tmp_path: Path) -> None:
    api = make_api(tmp_path, auth="off", allowed_origins="https://ui.example.com/")
    search_id, _ = seed_search(api.settings)
    url = f"/api/searches/{search_id}/pause"
    assert api.client.post(url, headers={"Origin": "https://elsewhere.example"}).status_code == 403
    assert api.client.post(url, headers={"Origin": "https://UI.example.com"}).status_code == 200


def test_foreign_host_header_is_refused(open_api: Api) -> None:
    r = open_api.client.get("/api/searches", headers={"Host": "attacker.example:8000"})
    assert r.status_code == 400 and "NASBOARD_ALLOWED_HOSTS" in r.json()["detail"]
    assert open_api.client.get("/", headers={"Host": "attacker.example"}).status_code == 400
    assert open_api.client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200  # probes
    assert open_api.client.get("/api/searches", headers={"Host": "localhost:8000"}).status_code == 200
    assert open_api.client.get("/api/searches", headers={"Host": "[::1]:8000"}).status_code == 200


def test_default_hosts_are_loopback_plus_the_bound_host_and_star_allows_any(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).host_allow_list == {"localhost", "127.0.0.1", "::1"}
    assert Settings(data_dir=tmp_path, allowed_hosts="").host_allow_list == {"localhost", "127.0.0.1", "::1"}
    assert Settings(data_dir=tmp_path, host="0.0.0.0").host_allow_list == {"localhost", "127.0.0.1", "::1"}
    assert "nasboard.lan" in Settings(data_dir=tmp_path, host="nasboard.lan").host_allow_list
    assert Settings(data_dir=tmp_path, allowed_hosts="a.example, B.example").host_allow_list == {
        "a.example",
        "b.example",
    }
    api = make_api(tmp_path, allowed_hosts="*")
    assert api.client.get("/api/searches", headers={"Host": "anything.example"}).status_code == 200


def test_auth_auto_is_on_for_a_request_that_arrived_off_loopback(tmp_path: Path) -> None:
    """Started by plain uvicorn on 0.0.0.0, the settings still say 127.0.0.1: the socket tells the truth."""
    import asyncio

    from backend.api.security import SecurityMiddleware

    settings = Settings(data_dir=tmp_path, allowed_hosts="*")

    async def app(scope: dict, receive: object, send: object) -> None:
        raise AssertionError("a write without a token reached the app")

    async def status_for(server: tuple[str, int]) -> int:
        sent: list[dict] = []
        scope = {
            "type": "http",
            "method": "DELETE",
            "path": "/api/searches/1",
            "headers": [],
            "server": server,
        }

        async def send(message: dict) -> None:
            sent.append(message)

        try:
            await SecurityMiddleware(app, settings)(scope, None, send)  # type: ignore[arg-type]
        except AssertionError:
            return 0
        return sent[0]["status"]

    assert asyncio.run(status_for(("192.168.1.20", 8000))) == 401
    assert asyncio.run(status_for(("127.0.0.1", 8000))) == 0  # loopback: auth off, the app ran
