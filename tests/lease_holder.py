"""A daemon's share of the work alone, in a process of its own (for the tests that kill or freeze it): it keeps
its leases on the shared state at URL and prints what it holds, one JSON line each time that changes.

    python -m tests.lease_holder URL PASSWORD TTL_SECONDS
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import sys

from deadlinewatch.adapters.store.postgres.connection import open_pool
from deadlinewatch.adapters.store.postgres.leases import Leases
from deadlinewatch.coordination import Shared
from deadlinewatch.credentials import Secret


async def main(url: str, password: str, ttl: float) -> None:
    pool = open_pool(url, Secret(password), max_size=4)
    shared, stop = Shared(Leases(pool), dt.timedelta(seconds=ttl)), asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def changed() -> None:
        print(json.dumps({"daemon": shared.daemon.id if shared.daemon else None, "holds": shared.holding()}),
              flush=True)

    try:
        await shared.keep(stop, changed)
    finally:
        pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
