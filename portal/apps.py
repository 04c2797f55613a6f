"""The portal's applications: one list drives both the top navigation and the desktop tiles.

A new page area adds ONE `App(...)` line to `APPS` (or calls `register(App(...))` from its own
module); base.html and the desktop render whatever is here, so nobody edits the template's
navigation again. An app whose endpoint is not registered (its blueprint is not installed) is
skipped, so a line may be added before the page exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from flask import g, request, url_for
from werkzeug.routing import BuildError


@dataclass(frozen=True)
class App:
    id: str
    title: str
    endpoint: str            # Flask endpoint of the app's landing page
    icon: str                # one or two letters on the tile
    text: str                # the tile's one-line description
    subtitle: str = ""
    admin: bool = False      # only administrators see it
    nav: bool = True         # also a top-navigation entry (not only a desktop tile)
    tile: bool = True        # also a desktop tile
    # Endpoint prefixes that mark the entry active (default: the endpoint's blueprint).
    active: tuple[str, ...] = ()
    # Optional text computed per request (e.g. the installed frameworks).
    dynamic_text: Callable[[], str] | None = None

    def is_active(self, endpoint: str | None) -> bool:
        if not endpoint:
            return False
        prefixes = self.active or (self.endpoint,)
        return any(endpoint == p or (p.endswith(".") and endpoint.startswith(p)) for p in prefixes)


def _frameworks_text() -> str:
    from portal.web import platform

    from portal.i18n import gettext

    titles = [i.title for i in platform().registry.list("framework", enabled_only=True)]
    return gettext("Train with {frameworks}", frameworks=", ".join(titles)) if titles \
        else "No training framework is installed"


APPS: list[App] = [
    App("training", "AI model training", "views.training", "T", "", subtitle="training jobs",
        active=("views.training",), dynamic_text=_frameworks_text),
    App("jobs", "My jobs", "views.jobs", "J", "Follow, kill, suspend and resume your jobs",
        subtitle="job management", active=("views.jobs", "views.job_detail", "views.job_")),
    App("files", "Files", "files.index", "F", "Browse, upload, edit and download in your directories",
        subtitle="your allowed directories", active=("files.",)),
    App("datasets", "Datasets", "datasets.index", "D",
        "Numeric, image, video, audio, text and TFRecord data from files, databases or HDFS",
        subtitle="my and shared datasets", active=("datasets.",)),
    App("labeling", "Data labeling", "labeling.index", "L",
        "Label images, video, audio and text alone or as a team, export COCO, VOC, YOLO", subtitle="labeling tasks",
        active=("labeling.",)),
    App("experiments", "Experiments", "experiments.index", "E",
        "Runs, metrics, parameters and charts of your training", subtitle="experiment tracking",
        active=("experiments.",)),
    App("pipelines", "Pipelines", "pipelines.page_cards", "P",
        "Build models by dragging components onto a canvas, run them as jobs", subtitle="visual designer",
        active=("pipelines.",)),
    App("images", "Images", "images.page", "I",
        "Container and environment images: built-in, shared and yours; build, pull, push", subtitle="image management",
        active=("images.",)),
    App("models", "Model registry", "models.index", "M",
        "Models and versions, ONNX conversion, deployment and sharing", subtitle="my and shared models",
        active=("models.",)),
    App("environments", "Development environments", "environments.page_list", "J",
        "JupyterLab, a Web terminal or RStudio on cluster resources, in your browser",
        subtitle="interactive IDEs", active=("environments.",)),
    App("services", "My services", "services.page_list", "S",
        "TensorBoard, model serving and other services you started", subtitle="services",
        active=("services.",)),
    App("account", "Account", "auth.account_page", "A",
        "Password, portal API tokens and language", subtitle="tokens and settings", nav=False),
    App("api", "REST API", "apidocs.page", "{}", "Every action of the portal, as JSON (OpenAPI 3.1)",
        subtitle="API reference", nav=False),
    App("specs", "Resource specifications", "views.admin_specs", "R", "CPU/GPU specs users pick from",
        subtitle="system management", admin=True),
    App("users", "Users and groups", "views.admin_users", "U", "Accounts, roles and groups",
        subtitle="system management", admin=True),
    App("settings", "Site settings", "views.admin_settings", "S",
        "Security classification, shared memory default, language", subtitle="system management",
        admin=True),
    App("plugins", "Plugins", "views.admin_plugins", "P", "Installed plugins by kind",
        subtitle="system management", admin=True),
]


def register(app: App, after: str | None = None) -> None:
    """Add an application from its own module (idempotent), optionally after another's id."""
    if any(a.id == app.id for a in APPS):
        return
    index = next((i + 1 for i, a in enumerate(APPS) if a.id == after), None)
    if index is None:
        index = next((i for i, a in enumerate(APPS) if a.admin), len(APPS)) if not app.admin else len(APPS)
    APPS.insert(index, app)


def _href(app: App) -> str | None:
    try:
        return url_for(app.endpoint)
    except BuildError:  # its blueprint is not installed
        return None


def visible(kind: str) -> list[dict[str, Any]]:
    """The apps the current account sees, as template rows; kind is 'nav' or 'tile'."""
    from portal.i18n import gettext

    is_admin = bool(getattr(g, "account", None) and g.account.is_admin)
    rows = []
    for app in APPS:
        if (app.admin and not is_admin) or not getattr(app, kind):
            continue
        href = _href(app)
        if href is None:
            continue
        text = app.dynamic_text() if app.dynamic_text else app.text
        rows.append({"id": app.id, "title": gettext(app.title), "subtitle": gettext(app.subtitle),
                     "text": gettext(text), "icon": app.icon, "href": href, "admin": app.admin,
                     "active": app.is_active(request.endpoint)})
    return rows


def init(flask_app: Any) -> None:
    """Template globals: nav_apps() for base.html, tile_apps() for the desktop."""
    flask_app.add_template_global(lambda: visible("nav"), "nav_apps")
    flask_app.add_template_global(lambda: visible("tile"), "tile_apps")
