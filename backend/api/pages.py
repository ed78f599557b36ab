"""Serves the dashboard's static pages (written under frontend/) and the local Plotly bundle."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from backend.api.deps import SettingsDep

router = APIRouter(include_in_schema=False)

PAGES = {
    "/": "index.html",
    "/new": "new.html",
    "/compare": "compare.html",
    "/benchmarks": "benchmarks.html",
}


PARTIAL_BUNDLE = "vendor/plotly-scattergl.min.js"  # built by scripts/plotly-bundle/build.sh


def plotly_bundle(frontend_dir: Path) -> Path:
    """The dashboard's plotly.js, always local (never a CDN): the partial bundle committed under
    frontend/vendor (core + scattergl + parcoords, 1.6 MB: a third of the script a first visit must
    evaluate), or, if that file was removed, the full bundle shipped inside the plotly Python package."""
    partial = frontend_dir / PARTIAL_BUNDLE
    if partial.is_file():
        return partial
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise HTTPException(404, "the plotly Python package is not installed")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


def _page(settings_dir: Path, name: str) -> FileResponse:
    path = settings_dir / name
    if not path.is_file():
        raise HTTPException(404, f"page {name} not found in {settings_dir}")
    return FileResponse(path, media_type="text/html")


@router.get("/static/vendor/plotly.min.js")
def plotly_js(settings: SettingsDep) -> FileResponse:
    path = plotly_bundle(Path(settings.frontend_dir))
    if not path.is_file():
        raise HTTPException(404, f"{path} missing from the plotly package")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


def _register_static_pages() -> None:
    for route, name in PAGES.items():

        def serve(settings: SettingsDep, _name: str = name) -> FileResponse:
            return _page(Path(settings.frontend_dir), _name)

        router.add_api_route(route, serve, methods=["GET"], name=f"page_{name.removesuffix('.html')}")


_register_static_pages()


@router.get("/searches/{search_id}")
def search_page(search_id: int, settings: SettingsDep) -> FileResponse:
    return _page(Path(settings.frontend_dir), "search.html")


@router.get("/groups/compare")
def groups_compare_page(settings: SettingsDep) -> FileResponse:
    return _page(Path(settings.frontend_dir), "group.html")


@router.get("/groups/{group_id}")
def group_page(group_id: int, settings: SettingsDep) -> FileResponse:
    return _page(Path(settings.frontend_dir), "group.html")


@router.get("/candidates/{candidate_id}")
def candidate_page(candidate_id: int, settings: SettingsDep) -> FileResponse:
    return _page(Path(settings.frontend_dir), "candidate.html")
