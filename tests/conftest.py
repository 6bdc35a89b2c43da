from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import mysql_database, postgres_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dest.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    with mysql_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each of the three real databases in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dest.db'}"
    elif request.param == "postgres":
        with postgres_database() as url:
            yield url
    else:
        with mysql_database() as url:
            yield url
