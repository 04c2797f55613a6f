"""schemathesis against the portal's own OpenAPI document: no input may cause a 5xx.

Runs as a real user with an API token against the real store and local scheduler. The user's
directory roots hold nothing runnable, so generated job submissions end as 4xx (workdir outside
the roots) or harmless commands in an empty scratch workspace.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.webportal.conftest import make_platform, scratch

pytestmark = pytest.mark.slow

_p = make_platform(scratch("fuzz"))
_p.accounts.seed_admin("adminpass1")
TOKEN = _p.accounts.create_token("admin", "fuzz")

from portal import create_app  # noqa: E402

APP = create_app(_p, settings={"TESTING": True})
# Experiment endpoints read the MLflow server, which this module does not start (they would all
# answer 503): tests/tracking/test_portal_fuzz.py fuzzes them against a real one. The services
# endpoints start real servers: tests/svc/test_services_fuzz.py fuzzes them with creation held
# back (start=false) and every service stopped afterwards.
schema = (schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP).exclude(tag="experiments")
          .exclude(tag="models").exclude(path_regex="^/service"))  # models: tests/models/test_models_fuzz.py
# CI runs a fixed, derandomized sample; HPCAI_FUZZ_EXAMPLES=N explores N random examples per operation.
MAX = int(os.environ.get("HPCAI_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = "HPCAI_FUZZ_EXAMPLES" not in os.environ


@schema.parametrize()
@settings(max_examples=MAX, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE,
          database=None)
def test_api_never_5xx(case) -> None:  # type: ignore[no-untyped-def]
    if case.method.upper() == "DELETE" and case.path in ("/users/{name}",):
        case.path_parameters = {"name": "nobody-here"}  # keep the token's own account
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error])
