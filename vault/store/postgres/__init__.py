"""The PostgreSQL TemplateStore and audit-log rows - the only package that imports psycopg.

``postgresql://USER@HOST:PORT/DB`` URLs are handed to libpq as they are (so
``sslmode`` and every other libpq parameter work); passwords come from a file,
``PGPASSWORD`` or ``PGPASSFILE`` / ``~/.pgpass``, never from the URL.
"""

from vault.store.postgres.logrows import PostgresLogRows
from vault.store.postgres.store import ERASURE_RESIDUE, PostgresTemplateStore

__all__ = ["ERASURE_RESIDUE", "PostgresLogRows", "PostgresTemplateStore"]
