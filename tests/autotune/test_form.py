"""The "Parameter file" of the training form (spec 03 §5.2): a JSON editor the user fills by
loading a file, then edits; what it posts is the file's text, checked before any job exists."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.autotune.test_spec import PRODUCT_FILE
from tests.webportal.conftest import give_to_account, login, make_platform, scratch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "autotune"


@pytest.fixture(scope="module")
def portal():  # type: ignore[no-untyped-def]
    from portal import create_app

    p = make_platform(scratch("tune-form"))
    p.accounts.create("tina", "tinapass1")
    work = p.workspace.home("tina") / "tune"
    shutil.copytree(EXAMPLES, work)
    give_to_account(p, "tina", work)  # the job runs as tina's Unix user and writes there
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


def _tab_panels(page: str) -> dict[str, str]:
    """Tab label -> the HTML of its panel, for the auto-tuning tab group."""
    group = page.split('id="tabs-autotune-source"')[1]
    labels = re.findall(r'<button type="button" role="tab" id="tab-autotune-source-(\d)"[^>]*>([^<]+)</button>', group)
    panels = {}
    for index, label in labels:
        panels[label] = group.split(f'id="panel-autotune-source-{index}"')[1].split('<div class="tabpanel"')[0]
    return panels


def test_the_two_ways_are_tabs_and_each_submits(portal) -> None:  # type: ignore[no-untyped-def]
    """F115: the switch reveals "Set parameters" and "Parameter file" as two tabs (from the
    option schema's x-tab hints); a job goes in from either tab."""
    p, app, work = portal
    c = app.test_client()
    csrf = login(c, "tina", "tinapass1")
    page = c.get("/apps/training?framework=pytorch&mode=standalone").data.decode()
    panels = _tab_panels(page)
    assert list(panels) == ["Set parameters", "Parameter file"]
    assert 'id="field-autotune_experiment"' in panels["Set parameters"]
    assert 'id="field-autotune_params"' in panels["Set parameters"]
    assert 'id="field-autotune_file"' in panels["Parameter file"]
    assert 'id="field-autotune_file"' not in panels["Set parameters"]
    head = page.split('id="tabs-autotune-source"')[1].split(">")[0]
    assert 'data-visible-if="{&#34;autotune&#34;: true}"' in head and "hidden" in head  # off until the switch
    assert 'aria-selected="true" data-tab="Set parameters"' in page  # the first tab is shown first
    assert '<input type="hidden" name="_tab.autotune-source" value="Set parameters" data-tab-input>' in page

    base = {"csrf_token": csrf, "framework": "pytorch", "_framework": "pytorch", "mode": "standalone",
            "workdir": str(work), "command": "python sgd_digits.py", "resource_spec": "cpu-1", "autotune": "on"}
    # each post carries both tabs' inputs (as the browser does) and the tab it came from
    both = {"autotune_experiment": "digits_fields", "autotune_trials": "2",
            "autotune_params": "alpha=loguniform:1e-6:1e-1",
            "autotune_file": (EXAMPLES / "params_tpe.json").read_text()}
    tabs = {tab: dict(both, **{"_tab.autotune-source": tab}) for tab in ("Set parameters", "Parameter file")}
    want = {"Set parameters": ("digits_fields", 2), "Parameter file": ("digits_tpe", 20)}
    for tab, fields in tabs.items():
        r = c.post("/apps/training", data=dict(base, **fields))
        assert r.status_code == 302, r.data.decode()[-2000:]
        job_id = int(r.headers["Location"].rsplit("new=", 1)[1])
        try:
            study = p.jobs.get(job_id, "tina").plan["options"]["autotune_study"]
            assert (study["experiment_name"], study["n_trials"]) == want[tab], study
        finally:
            p.jobs.kill(job_id, "tina")
    # a refused file re-opens its own tab, with the error next to the field
    r = c.post("/apps/training", data=dict(base, autotune_file="{", **{"_tab.autotune-source": "Parameter file"}))
    assert r.status_code == 400
    assert 'aria-selected="true" data-tab="Parameter file"' in r.data.decode()
