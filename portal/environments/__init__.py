"""Development environments in the portal: REST API (api.py) and pages (pages.py). Every rule
lives in core.environments; the proxy is My services' (portal/services/proxy.py)."""

from portal.environments import api as _api_routes, pages as _pages  # noqa: F401  (routes)
from portal.environments.blueprints import api, bp

__all__ = ["api", "bp"]
