"""A plugin from another distribution: listed, enabled by config alone, and usable."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import TERMINAL, submit, wait_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """pip-install tests/plugins/hpcai-hello into a directory put on the CLI's PYTHONPATH."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT / "tests" / "plugins" / "hpcai-hello")],
                   check=True, capture_output=True, timeout=300)
    return target


def test_listed_disabled_until_enabled_then_usable(cli, site, project):
    cli.env["PYTHONPATH"] = str(site)
    listed = json.loads(cli("plugins", "--json", "--kind", "framework").stdout)["plugins"]
    hello = next(p for p in listed if p["name"] == "hello")
    assert (hello["distribution"], hello["version"], hello["enabled"]) == ("hpcai-hello", "1.2.3", False)
    assert hello["schema"]["properties"]["greeting"]["default"] == "hello"
    res = cli("submit", "--framework", "hello", "--resource-spec", "cpu-1", "--workdir", str(project), "--", "true")
    assert res.returncode == 2 and "installed but disabled" in res.stderr and "enable plugin 'hello'" in res.stderr

    cli.env["HPCAI_PLUGINS_ENABLE"] = "hello"  # the only change: the admin enables it
    listed = json.loads(cli("plugins", "--json").stdout)["plugins"]
    assert next(p for p in listed if p["name"] == "hello")["enabled"] is True
    assert "--greeting" in cli("submit", "--framework", "hello", "--help").stdout
    jid = submit(cli, "--framework", "hello", "--greeting", "bonjour", "--resource-spec", "cpu-1",
                 "--workdir", str(project), "--", 'echo "greeting=$HELLO_GREETING"')
    info = wait_state(cli, jid, TERMINAL)
    assert info["state"] == "succeeded" and info["framework"] == "hello"
    assert "greeting=bonjour" in cli("logs", str(jid)).stdout
    # The plugin's env is reserved: a user may not set it behind its back.
    res = cli("submit", "--framework", "hello", "--resource-spec", "cpu-1", "--workdir", str(project),
              "--env", "HELLO_GREETING=x", "--", "true")
    assert res.returncode == 2 and "HELLO_GREETING is set by framework hello" in res.stderr
