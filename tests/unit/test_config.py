"""Settings from TOML, environment and flags, validated with messages that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidequest.config import Settings, parse_queue, settings_from_env, settings_from_toml
from sidequest.errors import ConfigError


def test_defaults_are_sidekiqs() -> None:
    settings = Settings()
    assert (settings.concurrency, settings.timeout, settings.max_retries, settings.dead_max_jobs) == (
        10,
        25.0,
        25,
        10_000,
    )
    assert settings.store_url == "sqlite:///sidequest.db"


def test_queue_flags_with_weights() -> None:
    assert parse_queue("critical,3") == ("critical", 3)
    assert parse_queue("default") == ("default", 1)
    with pytest.raises(ConfigError, match="not an integer"):
        parse_queue("critical,high")


def test_env_prefers_sidequest_url_then_redis_urls() -> None:
    assert (
        settings_from_env({"REDIS_URL": "redis://a", "SIDEQUEST_REDIS_URL": "redis://b"})["url"]
        == "redis://b"
    )
    assert settings_from_env({"REDIS_URL": "redis://a"})["url"] == "redis://a"
    assert settings_from_env({"SIDEQUEST_CONCURRENCY": "4"}) == {"concurrency": "4"}


def test_toml_file_and_coercion(tmp_path: Path) -> None:
    path = tmp_path / "sidequest.toml"
    path.write_text(
        'redis_url = "redis://localhost:6379/3"\nconcurrency = 4\nqueues = ["critical,3", "default"]\nstrict = true\n'
    )
    settings = Settings().with_changes(**settings_from_toml(path))
    assert settings.url == "redis://localhost:6379/3" and settings.concurrency == 4 and settings.strict
    assert settings.queues == (("critical", 3), ("default", 1))


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        Settings().with_changes(concurrency=0)
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings().with_changes(concurency=3)
    with pytest.raises(ConfigError, match="process_ttl"):
        Settings().with_changes(heartbeat_interval=10, process_ttl=5)
