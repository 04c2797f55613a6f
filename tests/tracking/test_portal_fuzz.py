"""schemathesis against the experiment endpoints of the portal's OpenAPI document (tag
`experiments`), on the session's real MLflow server: no input may cause a 5xx."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from core.config import load_config
from core.platform import Platform
from tests.tracking.conftest import scratch_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAX = int(os.environ.get("HPCAI_FUZZ_EXAMPLES", "10"))
DERANDOMIZE = "HPCAI_FUZZ_EXAMPLES" not in os.environ

_p = Platform(load_config({"HPCAI_DATA_DIR": str(scratch_dir("portal-fuzz"))}))
_p.accounts.create("fuzzer", "fuzzerpass1", groups=["team"])
TOKEN = _p.accounts.create_token("fuzzer", "fuzz")

from portal import create_app  # noqa: E402

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app(_p, settings={"TESTING": True}))
schema = schema.include(tag="experiments")


@pytest.fixture(scope="module", autouse=True)
def _tracking(mlflow_server: str) -> Iterator[None]:
    """The platform reads the tracking server's address when it first needs it: give it the
    session's server (the schema above had to exist at import time)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        _p.__dict__.pop("experiments", None)
        yield
    _p.__dict__.pop("experiments", None)


@schema.parametrize()
@settings(max_examples=MAX, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE,
          database=None)
def test_experiment_api_never_5xx(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code != 503, response.text  # the server is up: no outage answer either
    case.validate_response(response, checks=[not_a_server_error])
