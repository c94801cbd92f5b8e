"""The embedded store: one SQLite file in WAL mode, shared by the processes of one machine.

``database`` owns connections, locking and error translation, ``schema`` the tables and their
versions, ``store`` the contract of stores/base.py on top of them.
"""

from sidequest.stores.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
