"""Who may talk to the API: a Host allow-list, an Origin allow-list for writes, JSON-only bodies and
bearer tokens (settings `NASBOARD_AUTH*` / `NASBOARD_ALLOWED_*`, docs/deployment.md "Authentication").

One pure-ASGI middleware, so the checks run before routing and cover every route (mounted or not), and
streaming responses (SSE) pass through untouched. The cheap header checks run first, so a cross-site
request is refused before it costs a token lookup in the database.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.db import repository
from backend.db.session import session_factory, session_scope
from backend.settings import Settings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
HOST_CHECK_EXEMPT = frozenset({"/healthz"})  # probes often address the service by its IP
TOKEN_HINT = "send `Authorization: Bearer <token>` (create one with `nasboard token create NAME`)"


def _hostname(host: str) -> str:
    """The name part of a Host header: `example.com:8000` → example.com, `[::1]:8000` → ::1."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = settings.host_allow_list
        self.origins = settings.origin_allow_list

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._cross_site(scope, headers) or await self._authenticate(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _cross_site(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        """Refusals that hold whether or not tokens are on: DNS rebinding and cross-site writes."""
        host = headers.get("host", "")
        checked = self.hosts is not None and scope["path"] not in HOST_CHECK_EXEMPT
        if checked and _hostname(host) not in self.hosts:
            return _refuse(400, f"host {host!r} is not allowed (setting NASBOARD_ALLOWED_HOSTS)")
        method = scope["method"]
        if method in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        # No Origin: not a browser (the CLI, curl). A browser always sends one on writes.
        if origin is not None and self.origins is not None and not self._own_origin(origin, host):
            return _refuse(403, f"origin {origin!r} may not write here (setting NASBOARD_ALLOWED_ORIGINS)")
        if method in BODY_METHODS:
            # A form (or a no-cors fetch) can send a body cross-site without a preflight, but never as
            # application/json: insisting on it makes every write preflighted, which we do not answer.
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            if media != "application/json" and (media or has_body):
                return _refuse(415, "request bodies must be JSON (Content-Type: application/json)")
        return None

    def _own_origin(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        # Same host:port as the request (any scheme: a TLS proxy in front changes only that).
        return origin in self.origins or (bool(host) and urlsplit(origin).netloc == host.strip().lower())

    def _needs_token(self, scope: Scope) -> bool:
        if not (self.settings.auth_enabled or self._auto_and_reached_off_loopback(scope)):
            return False
        path = scope["path"]
        api = path == "/api" or path.startswith("/api/")
        if scope["method"] not in SAFE_METHODS:
            return api
        return self.settings.auth_reads == "private" and (api or path == "/metrics")

    def _auto_and_reached_off_loopback(self, scope: Scope) -> bool:
        """With `auto`, a request that arrived on a non-loopback address proves the service listens
        beyond loopback even where its settings do not say so (plain `uvicorn --host 0.0.0.0`)."""
        server = scope.get("server")
        if self.settings.auth != "auto" or not server:
            return False
        try:
            return not ipaddress.ip_address(server[0]).is_loopback
        except ValueError:  # a Unix socket, or a test client's made-up name
            return False

    async def _authenticate(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        if not self._needs_token(scope):
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refuse(401, f"authentication required: {TOKEN_HINT}", {"WWW-Authenticate": "Bearer"})
        name = await anyio.to_thread.run_sync(self._lookup, token.strip())
        if name is None:
            challenge = 'Bearer error="invalid_token"'
            return _refuse(401, f"invalid or revoked token: {TOKEN_HINT}", {"WWW-Authenticate": challenge})
        scope.setdefault("state", {})["token_name"] = name  # request.state.token_name in the routes
        return None

    def _lookup(self, token: str) -> str | None:
        with session_factory(self.settings)() as session:
            found = repository.token_name(session, token)
        if found is None:
            return None
        name, stale = found
        if stale:
            try:
                with session_scope(self.settings, write=True) as session:
                    repository.touch_token(session, name)
            except Exception:  # a busy database must not turn a valid token away
                log.warning("could not record the use of token %r", name, exc_info=True)
        return name


def token_name(state: object) -> str | None:
    """The name of the token that authenticated this request (`request.state`), or None."""
    return getattr(state, "token_name", None)
