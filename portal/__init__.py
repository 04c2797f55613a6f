"""The web portal: a thin Flask shell over the core (pages, REST API /api/v1, OpenAPI).

Everything the portal shows comes from the core and the installed plugins; every rule (who
may see a job, what a valid job is, which directories a user may pick) lives in the core.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from core.platform import Platform

APP_NAME = "hpcai"


def _secret_key(platform: Platform) -> str:
    """HPCAI_SECRET_KEY, else a random key kept (mode 0600) in the data directory."""
    if os.environ.get("HPCAI_SECRET_KEY"):
        return os.environ["HPCAI_SECRET_KEY"]
    path = platform.config.data_dir / "portal-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


class _BoundedJSON(DefaultJSONProvider):
    """A body nested deeper than Python's recursion limit is a bad request, not an HTTP 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("the JSON body is nested too deeply") from exc


def create_app(platform: Platform | None = None, watcher: Any = None,
               settings: dict[str, Any] | None = None) -> Flask:
    platform = platform or Platform()
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    app.json = _BoundedJSON(app)
    app.config.update(
        SECRET_KEY=_secret_key(platform),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="hpcai_session",
        SESSION_COOKIE_SECURE=os.environ.get("HPCAI_SECURE_COOKIES") == "1",
        # The site's upload limits plus room for the multipart framing; core checks the exact
        # limits. A folder upload sends two parts per file (the file and its relative path).
        MAX_CONTENT_LENGTH=platform.workspace.limits()[0] + (16 << 20),
        MAX_FORM_PARTS=2 * platform.workspace.limits()[1] + 16,
        MAX_FORM_MEMORY_SIZE=max(500_000, 1100 * platform.workspace.limits()[1]),
        PAGE_SIZE=20,
        LOG_POLL_S=0.5,
    )
    app.config.update(settings or {})
    app.extensions["hpcai"] = platform
    app.extensions["hpcai_watcher"] = watcher

    from portal import (api, apidocs, apps, auth, datasets, experiments, files, i18n, joblinks, images, labeling,
                        model_pages, models, pipelines, services, views)
    from portal import environments

    auth.init(app)
    apps.init(app)
    i18n.init(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(datasets.api_bp)
    app.register_blueprint(datasets.pages_bp)
    app.register_blueprint(services.bp)
    app.register_blueprint(services.api)
    app.register_blueprint(environments.bp)
    app.register_blueprint(environments.api)
    services.init(app)  # service origins: only the proxy answers there
    app.register_blueprint(experiments.pages)
    app.register_blueprint(experiments.api)
    app.register_blueprint(joblinks.pages)
    app.register_blueprint(images.api)
    app.register_blueprint(images.pages)
    app.register_blueprint(joblinks.api)
    app.register_blueprint(files.bp)
    app.register_blueprint(apidocs.bp)
    app.register_blueprint(models.api)
    app.register_blueprint(model_pages.pages)
    app.register_blueprint(pipelines.pages)
    app.register_blueprint(pipelines.api)
    app.register_blueprint(labeling.api)
    app.register_blueprint(labeling.pages)
    from portal import rl_envs

    app.register_blueprint(rl_envs.api)
    app.register_blueprint(rl_envs.pages)
    return app
