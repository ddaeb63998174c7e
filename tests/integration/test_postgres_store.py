"""The store contract (tests/unit/test_store_contract.py) kept by the PostgreSQL store, and what is its own: the
statements translated from the parts' dialect, the key shared by every daemon, a conflict run again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deadlinewatch.adapters.store.postgres.store import PostgresStore
from deadlinewatch.credentials import Secret
from tests.unit.test_store_contract import StoreContract


def open_store(database: Any) -> PostgresStore:
    return PostgresStore.connect(database.url, Secret(database.password))


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres: Any) -> Iterator[PostgresStore]:
        opened = open_store(postgres)
        yield opened
        opened.close()
