"""schemathesis over the services, API-key and lifecycle endpoints of the portal's OpenAPI
document (built from the same schemas as the forms): no input may cause a 5xx.

Runs as a real user with an API token against the real store and local scheduler. Creation is
held back (start=false) so generated options never start a server by themselves; the one
service the lifecycle actions may start runs a harmless command, and every service is stopped
at the end.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.svc.helpers import CPU_SPECS_OK, scratch
from tests.webportal.conftest import make_platform

pytestmark = pytest.mark.slow

_p = make_platform(scratch("svc-fuzz"), CPU_SPECS_OK)
_p.store.migrate()
_p.accounts.seed_admin("adminpass1")
_p.accounts.create("carol", "carolpass1")
TOKEN = _p.accounts.create_token("carol", "fuzz")
SLEEPER = _p.services.create({"name": "sleeper", "type": "custom", "resource_spec": "cpu-1",
                              "command": "exec sleep 600"}, "carol", start=False)

from portal import create_app  # noqa: E402

APP = create_app(_p, settings={"TESTING": True})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP).include(path_regex="^/service")
MAX = int(os.environ.get("HPCAI_FUZZ_EXAMPLES", "10"))
DERANDOMIZE = "HPCAI_FUZZ_EXAMPLES" not in os.environ


@pytest.fixture(scope="module", autouse=True)
def _stop_everything() -> Iterator[None]:
    yield
    for row in _p.services.list("admin", all_users=True):
        if "stop" in _p.services.lifecycle_actions(row):  # a stopped one may not be stopped (F249)
            _p.services.stop(row.alias, row.user)


def test_documented_service_operations() -> None:
    doc = APP.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/services", "/services/{ref}", "/services/{ref}/start", "/services/{ref}/stop",
                 "/services/{ref}/restart", "/services/{ref}/authorize", "/services/{ref}/log",
                 "/service-keys", "/service-keys/{key_id}", "/service-types"):
        assert path in doc["paths"], path
    body = doc["components"]["schemas"]["ServiceValues"]
    # the union of every type's own fields, from the same schemas as the create form
    assert {"name", "type", "resource_spec", "command", "logdir", "model_name"} <= set(body["properties"])
    assert set(body["properties"]["type"]["enum"]) == set(_p.services.types())


@schema.parametrize()
@settings(max_examples=MAX, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE,
          database=None)
def test_service_api_never_5xx(case) -> None:  # type: ignore[no-untyped-def]
    if case.method.upper() == "POST" and case.path == "/services" and isinstance(case.body, dict):
        case.body["start"] = False
    if case.path_parameters and "ref" in case.path_parameters and case.method.upper() != "DELETE":
        if case.path.endswith(("/start", "/restart")) or case.method.upper() == "PATCH":
            case.path_parameters["ref"] = SLEEPER.alias  # a real target, with a harmless command
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error])
