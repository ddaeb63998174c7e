"""Which store holds the state: `daemon.database` empty, SQLite in state_dir (one daemon); a `postgresql://` URL,
the database every daemon with that config shares. Every command and the daemon open the state here."""

from __future__ import annotations

from pathlib import Path

from deadlinewatch.adapters.store import Store, StorePort
from deadlinewatch.credentials import ServerAccount
from deadlinewatch.errors import DeadlinewatchError


def open_state(state_dir: Path, database: str = "", account: ServerAccount | None = None, *,
               existing: bool = False) -> StorePort:
    """The state: PostgreSQL at `database` (its login `account`: config.accounts["database"]) when it is set,
    else SQLite in `state_dir`. `existing`: a command that only reads or decides (status, approve, …) refuses
    to make a new SQLite state; a database is one to use once configured (it is migrated on first use)."""
    if database:
        from deadlinewatch.adapters.store.postgres.store import PostgresStore

        return PostgresStore.connect(database, account.password if account else None)
    if existing and not (state_dir / "deadlinewatch.sqlite3").exists():
        raise DeadlinewatchError(f"no state in {state_dir} yet: run `deadlinewatch once` first")
    return Store.open(state_dir)
