"""Django's PostgreSQL backend, with the per-request health check (``CONN_HEALTH_CHECKS``)
answered without a round trip when it can be.

Django checks a persistent connection before a request's first query by sending ``SELECT 1``.
On a loaded machine every round trip costs a wake-up of the server process and of ours: for the
incremental sync pull (two queries of its own) the check was a third of the time spent waiting
on the database (docs/benchmarks.md, "Sync"). A connection the server closed (restart,
``pg_terminate_backend``, ``idle_session_timeout``, a proxy dropping it) has sent something
before it went: the server's FATAL notice, or the end of the stream. So when the socket has
nothing to read, the connection is open and idle, the check is done without a query; when
anything is waiting on the socket, or the connection is not idle, Django's own check runs
(``SELECT 1``) and a dead connection is closed and replaced as before. A peer that vanished
without a word (no FIN, no RST) passes either way: ``SELECT 1`` would wait on it too.

After a query error, Django's ``is_usable`` (the real ``SELECT 1``) is still what decides
whether the connection is kept.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


def _nothing_to_read(fileno: int) -> bool:
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


class DatabaseWrapper(base.DatabaseWrapper):
    def _open_and_quiet(self) -> bool:
        """The connection is open, idle outside a transaction, and the server has sent
        nothing since the last answer (so it has not closed it)."""
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            return _nothing_to_read(conn.fileno())
        except (OSError, ValueError):
            return False

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._open_and_quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
