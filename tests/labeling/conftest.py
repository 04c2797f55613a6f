"""Fixtures of the labeling tests: a platform with alice, bob, carol (tests.datasets' accounts),
media datasets of real files, and API clients that authenticate with each user's token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.platform import Platform
from tests.datasets.conftest import home, make_platform, scratch


class Client:
    """The portal's REST API as one user sees it (Bearer token, JSON in and out)."""

    def __init__(self, app: Any, token: str):
        self.http = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, url: str, body: Any = None, **kw: Any) -> Any:
        return self.http.open("/api/v1/labeling" + url, method=method, json=body,
                              headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.call("GET", url, **kw)

    def post(self, url: str, body: Any = None) -> Any:
        return self.call("POST", url, body if body is not None else {})

    def put(self, url: str, body: Any) -> Any:
        return self.call("PUT", url, body)


def images(directory: Path, count: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        path = directory / f"img{n:03d}.png"
        Image.new("RGB", size, (n * 20 % 256, 90, 160)).save(path)
        out.append(path)
    return out


def _site(db_url: str | None = None) -> dict[str, Any]:
    from portal import create_app

    p: Platform = make_platform(scratch("label"), db_url=db_url)
    p.accounts.create("dave", "davepass1")
    app = create_app(p)
    clients = {u: Client(app, p.accounts.create_token(u, "t")) for u in ("alice", "bob", "carol", "dave", "admin")}
    return {"platform": p, "app": app, **clients}


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    yield _site()


@pytest.fixture
def pg_site(fresh_pg_url: str) -> Iterator[dict[str, Any]]:
    """The same, with the platform's store on a fresh PostgreSQL database."""
    site = _site(fresh_pg_url)
    yield site
    site["platform"].store.engine.dispose()


def image_dataset(p: Platform, user: str = "alice", count: int = 5, name: str = "pics") -> Any:
    images(home(p, user) / name, count)
    return p.datasets.create(user, {"name": name, "category": "image", "directory": str(home(p, user) / name)})
