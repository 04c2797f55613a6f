"""My services in the portal: pages (pages.py), REST API (api.py), the authenticating proxy
(proxy.py) and the OpenAPI fragments (openapi.py). Every rule lives in core.services."""

from portal.services import api as _api_routes, pages as _pages, proxy as _proxy  # noqa: F401  (routes)
from portal.services.blueprints import api, bp
from portal.services.origin import init
from portal.services.openapi import openapi_components, openapi_paths, service_body_schema

__all__ = ["api", "bp", "init", "openapi_components", "openapi_paths", "service_body_schema"]
