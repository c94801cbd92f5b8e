"""The Redis store: Sidekiq-compatible keys and values, with reliable fetch on top."""

from __future__ import annotations

from sidequest.stores.redis.store import RedisStore

__all__ = ["RedisStore"]
