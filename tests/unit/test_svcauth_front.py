"""The proxy's proof (core.svcauth) and nginx's generated configuration (portal.front), checked
by the real nginx binary (`nginx -t`) where it is installed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from core import svcauth
from core.api import ProxyRules
from core.services import ProxyEntry
from portal.front import nginx_binary, render


def test_signatures_are_fresh_and_bound_to_the_secret() -> None:
    now = time.time()
    good = svcauth.sign("s3cret", now)
    assert svcauth.verify("s3cret", good, now)
    assert not svcauth.verify("other", good, now)
    assert not svcauth.verify("s3cret", good, now + svcauth.WINDOW_S + 1)
    assert not svcauth.verify("s3cret", good.replace("v1:", "v2:"), now)
    assert not svcauth.verify("s3cret", None, now) and not svcauth.verify("", good, now)
    assert svcauth.verify("s3cret", svcauth.front_proof("s3cret"))
    assert not svcauth.verify("other", svcauth.front_proof("s3cret"))
    signer = svcauth.Signer()
    assert signer.header("s3cret") == signer.header("s3cret")  # reused within REUSE_S


def _entry(alias: str, **rules: object) -> ProxyEntry:
    return ProxyEntry(alias=alias, owner="alice", authorized=frozenset(), auth=False, stamp=(),
                      host="127.0.0.1", port=40123, rules=ProxyRules(**rules), secret="s3cret")  # type: ignore[arg-type]


def test_rendered_configuration_is_accepted_by_nginx(tmp_path: Path) -> None:
    entries = [_entry("custom-alice-1", upstream_prefix="/api"),
               _entry("visualdl-bob-2", request_headers={"Accept-Language": "en-US"}),
               _entry("tensorboard-carol-3", strip_prefix=False, rewrite_redirects=False),
               _entry("jupyter-dan-4", secret_headers={"Authorization": "token {secret}"})]
    files = render("127.0.0.1:18080", "127.0.0.1:18081", entries, "front-secret", tmp_path, 2, None,
                   r"\.svc\.localhost(:\d+)?$", tmp_path / "run")
    services = files["services.conf"]
    assert "proxy_pass http://svc_" in services and "/api/;" in services
    assert svcauth.front_proof("s3cret") in services and "s3cret\"" not in services.replace("token s3cret", "")
    assert 'proxy_set_header Authorization "token s3cret";' in services  # a native-auth type's own header
    assert "proxy_redirect off;" in services
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (scripts/setup.sh installs it)")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "run").mkdir()
    out = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
