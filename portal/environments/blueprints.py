"""The blueprints of development environments: pages (`environments`), REST API (`environments_api`)."""

from flask import Blueprint

bp = Blueprint("environments", "portal.environments")
api = Blueprint("environments_api", "portal.environments", url_prefix="/api/v1")
