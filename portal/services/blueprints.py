"""The two blueprints of My services: pages and the proxy (`services`), REST API (`services_api`)."""

from flask import Blueprint

bp = Blueprint("services", "portal.services")
api = Blueprint("services_api", "portal.services", url_prefix="/api/v1")
