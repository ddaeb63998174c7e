"""The state in PostgreSQL (`daemon.database = "postgresql://…"`): one database shared by every daemon of a studio.

  connection.py  the URL and its password, a pool of connections (psycopg 3), errors a user can act on, and
                 transactions run again when they lose a conflict with another daemon's (40001, 40P01)
  schema.py      the state's named migrations (schema.py) on PostgreSQL, and the tables only shared state needs,
                 applied once under a transaction-level advisory lock however many daemons start together
  leases.py      daemons and their heartbeats, leases by the database's clock, the check a write makes first
  copy.py        `copy-state URL`: an existing SQLite state copied into an empty database, row for row

Needs the extra: pip install 'deadlinewatch[postgresql]'. Without it, importing this package is the configuration
problem it is (exit 78), said in one sentence, not a traceback.
"""

from __future__ import annotations

from deadlinewatch.errors import ConfigError

try:
    import psycopg  # noqa: F401  (imported for the check only)
    import psycopg_pool  # noqa: F401
except ModuleNotFoundError as e:
    raise ConfigError(f"daemon.database names a PostgreSQL database, and its driver is not installed ({e.name}): "
                      "pip install 'deadlinewatch[postgresql]'") from None
