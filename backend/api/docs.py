"""Interactive API docs at /docs with Swagger UI served from the `swagger-ui-bundle` package.

FastAPI's default page loads Swagger UI from a CDN, which many clusters (and this project's test
machines) cannot reach; the assets ship in a Python package instead, like plotly.js for the dashboard.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/vendor/swagger-ui"


def add_docs(app: FastAPI) -> None:
    """Mount the assets and the /docs page; must run before the /static mount so it takes precedence."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # without the package, fall back to FastAPI's CDN-based page
        app.add_api_route("/docs", _cdn_docs(app), include_in_schema=False)
        return
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_api_route("/docs", docs, include_in_schema=False)


def _cdn_docs(app: FastAPI):  # type: ignore[no-untyped-def]
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API")

    return docs
