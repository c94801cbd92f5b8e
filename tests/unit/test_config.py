"""Settings from TOML, environment and flags, validated with messages that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidequest.config import (
    Settings,
    apply_sources,
    env_sources,
    parse_queue,
    settings_from_env,
    settings_from_toml,
)
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


def test_every_setting_but_the_url_has_an_environment_variable() -> None:
    # given settings the environment used to ignore, such as the fetch batch
    env = {"SIDEQUEST_FETCH_BATCH": "1", "SIDEQUEST_MAX_RETRIES": "3", "SIDEQUEST_BURST_STORE_WAIT": "5"}
    # when they are applied
    settings = apply_sources(Settings(), env_sources(env))
    # then each took effect
    assert (settings.fetch_batch, settings.max_retries, settings.burst_store_wait) == (1, 3, 5.0)


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        apply_sources(Settings(), env_sources({"SIDEQUEST_CONCURRENCY": "abc", "SIDEQUEST_TIMEOUT": "5"}))
    assert str(raised.value) == "SIDEQUEST_CONCURRENCY='abc': concurrency must be an integer, got 'abc'"
    with pytest.raises(
        ConfigError, match=r"^SIDEQUEST_QUEUES='ok,x': queue weight in 'ok,x' is not an integer"
    ):
        apply_sources(Settings(), env_sources({"SIDEQUEST_QUEUES": "ok,x"}))


def test_values_that_only_work_together_are_accepted_from_two_sources(tmp_path: Path) -> None:
    # given a short heartbeat in a TOML file and a process TTL below the default heartbeat in the environment
    path = tmp_path / "sidequest.toml"
    path.write_text("heartbeat_interval = 1\n")
    sources = [("config file", settings_from_toml(path)), *env_sources({"SIDEQUEST_PROCESS_TTL": "5"})]
    # when both are applied, then together they are valid
    settings = apply_sources(Settings(), sources)
    assert (settings.heartbeat_interval, settings.process_ttl) == (1.0, 5.0)


def test_misspelled_environment_variables_get_did_you_mean(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "SIDEQUEST_CONCURENCY": "3",
        "SIDEQUEST_QUEUE": "mailers",
        "SIDEQUEST_BANANA": "1",
        "SIDEQUEST_TEST_REDIS_URL": "redis://x",  # the testing plugin's, not a setting
    }
    with caplog.at_level("WARNING", logger="sidequest"):
        assert settings_from_env(env) == {}
    messages = [record.getMessage() for record in caplog.records]
    assert (
        "environment variable SIDEQUEST_CONCURENCY is not a sidequest setting and is ignored; "
        "did you mean SIDEQUEST_CONCURRENCY?"
    ) in messages
    assert any("SIDEQUEST_QUEUE is not" in m and "did you mean SIDEQUEST_QUEUES?" in m for m in messages)
    assert any(
        "SIDEQUEST_BANANA is not" in m
        and "settings are SIDEQUEST_URL, SIDEQUEST_REDIS_URL, SIDEQUEST_BURST_STORE_WAIT" in m
        for m in messages
    )
    assert not any("SIDEQUEST_TEST_REDIS_URL" in m for m in messages)


def test_unknown_toml_keys_get_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "sidequest.toml"
    path.write_text("timout = 3\nconcurency = 2\nbogus = 1\n")
    with pytest.raises(ConfigError) as raised:
        settings_from_toml(path)
    message = str(raised.value)
    assert message.startswith(
        f"config file {path}: unknown setting 'bogus', 'concurency' (did you mean 'concurrency'?), "
        "'timout' (did you mean 'timeout'?); known settings: "
    )


def test_misspelled_settings_in_code_get_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'concurency' \(did you mean 'concurrency'\?\)"):
        Settings().with_changes(concurency=3)


def test_a_url_from_the_environment_is_labelled_without_its_password() -> None:
    # the label is what an error about this variable would show
    sources = env_sources({"REDIS_URL": "redis://:s3cret@localhost/0"})
    assert sources == [("REDIS_URL='redis://:***@localhost/0'", {"url": "redis://:s3cret@localhost/0"})]
