"""schemathesis against the model registry endpoints of the portal's OpenAPI document (tag
`models`), on the session's real MLflow server: no input may cause a 5xx."""

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
from tests.fixtures_services import scratch_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAX = int(os.environ.get("HPCAI_FUZZ_EXAMPLES", "10"))
DERANDOMIZE = "HPCAI_FUZZ_EXAMPLES" not in os.environ

_p = Platform(load_config({"HPCAI_DATA_DIR": str(scratch_dir("models-fuzz"))}))
_p.store.migrate()
_p.accounts.create("fuzzer", "fuzzerpass1", groups=["team"])
TOKEN = _p.accounts.create_token("fuzzer", "fuzz")

from portal import create_app  # noqa: E402

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app(_p, settings={"TESTING": True}))
schema = schema.include(tag="models")


@pytest.fixture(scope="module", autouse=True)
def _tracking(mlflow_server: str) -> Iterator[None]:
    """The registry reads the tracking server's address when first used: the session's server."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        _p.__dict__.pop("models", None)
        d = _p.workspace.home("fuzzer") / "m"
        d.mkdir(parents=True, exist_ok=True)
        (d / "model.pt").write_bytes(b"PK\x03\x04")
        _p.models.create("fuzzer", {"name": "m", "model_dir": str(d)})  # so paths with name=m reach the rules
        yield
    _p.__dict__.pop("models", None)


@schema.parametrize()
@settings(max_examples=MAX, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE,
          database=None)
def test_models_api_never_5xx(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code != 503, response.text  # the server is up: no outage answer either
    case.validate_response(response, checks=[not_a_server_error])
