"""Fixtures of the reliability suite, and a summary of what each fault scenario measured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_REPORTS: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line for the end-of-run summary (duplicate counts and other figures)."""

    def add(line: str) -> None:
        _REPORTS.append(f"{request.node.name}: {line}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORTS:
        terminalreporter.section("reliability figures")
        for line in _REPORTS:
            terminalreporter.write_line(line)
