"""Tests of sidequest.testing: pytester for the plugin, and a clean testing state around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _clean_testing_state() -> Iterator[None]:
    """Every test here starts and ends in disabled mode, real time and empty fake lists."""
    from sidequest import testing

    testing.disable()
    testing.clock.unfreeze()
    testing.clear_all()
    yield
    testing.disable()
    testing.clock.unfreeze()
    testing.clear_all()
