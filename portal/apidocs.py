"""The API reference page: Swagger UI over /api/v1/openapi.json, its files served from the PyPI
package swagger-ui-py (Swagger UI 5, which reads OpenAPI 3.1; no CDN: portals often run where
the internet is not reachable). Only the package's static files are used, not its Python."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, render_template, send_from_directory

bp = Blueprint("apidocs", __name__)
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")


@bp.route("/apidocs")
def page() -> Any:
    return render_template("apidocs.html")


@bp.route("/apidocs/assets/<name>")
def asset(name: str) -> Any:
    if name not in ASSETS:
        abort(404)
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        abort(404)
    return send_from_directory(str(Path(list(spec.submodule_search_locations)[0]) / "static"), name, max_age=86400)
