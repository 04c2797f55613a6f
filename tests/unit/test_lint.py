"""The code base stays ruff-clean (pyproject.toml [tool.ruff]) and its layers stay apart."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    res = subprocess.run([str(ruff), "check", "core", "cli", "plugins", "hooks/jairun", "hooks/envrun", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_imports_flow_one_way():
    """core imports no plugin/portal/cli; plugins import neither portal/cli nor each other."""
    bad = []
    for f in (ROOT / "core").rglob("*.py"):
        bad += [f"{f}: {m}" for m in re.findall(r"^\s*(?:from|import)\s+(?:plugins|portal|cli)\b.*$", f.read_text(), re.M)]
    for f in (ROOT / "plugins").rglob("*.py"):
        parts = f.relative_to(ROOT / "plugins").parts
        if len(parts) < 3:  # plugins/__init__.py, plugins/<kind>/__init__.py
            continue
        kind, name = parts[:2]
        for m in re.findall(r"^\s*(?:from|import)\s+((?:plugins|portal|cli)[\w.]*)", f.read_text(), re.M):
            if not m.startswith(f"plugins.{kind}.{name.removesuffix('.py')}"):
                bad.append(f"{f}: imports {m}")
    assert bad == []
