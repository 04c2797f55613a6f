"""The "Parameter file" of the training form (spec 03 §5.2): a JSON editor the user fills by
loading a file, then edits; what it posts is the file's text, checked before any job exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.autotune.test_spec import PRODUCT_FILE
from tests.webportal.conftest import login, make_platform, scratch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "autotune"


@pytest.fixture(scope="module")
def portal():  # type: ignore[no-untyped-def]
    from portal import create_app

    p = make_platform(scratch("tune-form"))
    p.accounts.create("tina", "tinapass1")
    work = p.workspace.home("tina") / "tune"
    shutil.copytree(EXAMPLES, work)
    return p, create_app(p, settings={"TESTING": True}), work


def test_the_parameter_file_is_an_editor_that_loads_a_file(portal) -> None:  # type: ignore[no-untyped-def]
    p, app, work = portal
    c = app.test_client()
    csrf = login(c, "tina", "tinapass1")
    page = c.get("/apps/training?framework=pytorch&mode=standalone").data.decode()
    field = page.split('id="field-autotune_file"')[1].split('id="field-')[0]
    assert 'data-load-into="in-autotune_file"' in field and '<textarea id="in-autotune_file"' in field
    base = {"csrf_token": csrf, "framework": "pytorch", "_framework": "pytorch", "mode": "standalone",
            "workdir": str(work), "command": "python sgd_digits.py", "resource_spec": "cpu-1", "autotune": "on"}
    # the manual's second rendering, with its stray comma: refused next to the field, nothing submitted
    broken = PRODUCT_FILE.replace('"metric_name": ["None"]\n', '"metric_name": ["None"],\n')
    r = c.post("/apps/training", data=dict(base, autotune_file=broken))
    assert r.status_code == 400
    html = r.data.decode()
    assert 'id="error-autotune_file"' in html and "line 19, column 3: malformed JSON" in html
    kept = html.split('<textarea id="in-autotune_file"')[1].split("</textarea>")[0]
    assert "&#34;metric_name&#34;: [&#34;None&#34;]," in kept  # the editor keeps what the user typed
    # an edited value inside the file is checked like a file on disk
    r = c.post("/apps/training", data=dict(base, autotune_file=PRODUCT_FILE.replace('"high": "10"', '"high": "0"')))
    assert r.status_code == 400 and "parameter_configs.int_0.value.low" in r.data.decode()
    assert p.jobs.list("tina")[1] == 0
