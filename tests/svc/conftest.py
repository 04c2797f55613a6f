"""Images the service tests run their servers in (etc/images.toml), built in the background.

The build starts when collection finishes and the tests that need it run last, so it overlaps
every other test of the session (the scheme of tests/frameworks); it is cached under var/images keyed by the
pinned spec, so only the first run on a machine pays for it. A failed build fails the tests
that need it, with the build's own error.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import pytest

import tests.localhost_names  # noqa: F401  (service origins *.svc.localhost, as in browsers)
from tests.svc.helpers import REPO

IMAGES_DIR = REPO / "var" / "images"
#: test module -> the images its servers need
NEEDS = {"test_mlserver_e2e": ("mlserver",), "test_models_e2e": ("modelstore", "mlserver")}
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="svc-image-build")
_builds: dict[str, Future] = {}
BUILD_TIMES: dict[str, tuple[bool, float]] = {}


def _build(name: str) -> str:
    from core.config import load_config
    from core.images import ImageCatalog

    catalog = ImageCatalog(REPO / "etc" / "images.toml", load_config({}).home, IMAGES_DIR)
    t0 = time.time()
    result = catalog.build(name, log=lambda line: None)
    BUILD_TIMES[name] = (result.built, time.time() - t0)
    return str(result.prefix)


def start_build(name: str) -> Future:
    if name not in _builds:
        _builds[name] = _pool.submit(_build, name)
    return _builds[name]


def _module(item: pytest.Item) -> str:
    m = getattr(item, "module", None)
    return m.__name__.rsplit(".", 1)[-1] if m is not None else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that wait for an image run last, so its build overlaps as many tests as possible."""
    items[:] = [i for i in items if _module(i) not in NEEDS] + [i for i in items if _module(i) in NEEDS]


def pytest_collection_finish(session: pytest.Session) -> None:
    modules = {_module(item) for item in session.items}
    for module, images in NEEDS.items():
        if module in modules:
            for name in images:
                start_build(name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, (built, seconds) in sorted(BUILD_TIMES.items()):
        terminalreporter.write_line(f"service image {name}: {'built' if built else 'reused'} in {seconds:.0f} s")


@pytest.fixture(scope="session")
def service_image() -> Callable[[str], str]:
    """service_image(name) -> the environment's prefix, once its (background) build is done."""

    def wait(name: str) -> str:
        return start_build(name).result(timeout=1800)

    return wait
