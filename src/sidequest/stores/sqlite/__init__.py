"""The embedded store: one SQLite file in WAL mode, shared by the processes of one machine.

``database`` owns connections, locking and error translation, ``schema`` the tables and their
versions, ``store`` the contract of stores/base.py on top of them, ``bell`` and ``wakeup`` the wake-ups
of fetches waiting for work, in this process and in others.
"""

from sidequest.stores.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
