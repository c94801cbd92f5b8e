"""docs/django.md, fastapi.md and flask.md: every snippet marked as taken from an example is still in
that example word for word, so the guides cannot drift from code the suite runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ["docs/django.md", "docs/fastapi.md", "docs/flask.md"]
SNIPPET = re.compile(r"<!-- from (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.DOTALL)
FENCE = re.compile(r"^```(\w*)$", re.MULTILINE)


@pytest.mark.parametrize("guide", GUIDES)
def test_each_snippet_appears_verbatim_in_its_example(guide: str) -> None:
    text = (ROOT / guide).read_text()
    snippets = list(SNIPPET.finditer(text))
    assert len(snippets) >= 4, f"{guide} should show the example's code"
    for found in snippets:
        source = ROOT / found["path"]
        assert found["path"].startswith("examples/") and source.is_file(), found["path"]
        assert found["code"] in source.read_text(), (
            f"{guide}: snippet from {found['path']} is not in that file"
        )


@pytest.mark.parametrize("guide", GUIDES)
def test_every_python_ini_or_container_snippet_comes_from_an_example(guide: str) -> None:
    # shell command lines may stand alone; code and unit files must be taken from an example
    text = (ROOT / guide).read_text()
    taken = {match.start("code") for match in SNIPPET.finditer(text)}
    openings = [m for m in FENCE.finditer(text) if m.group(1)]  # opening fences carry a language
    loose = [m.group(1) for m in openings if m.group(1) != "sh" and m.end() + 1 not in taken]
    assert loose == [], f"{guide} has {loose} snippets not taken from an example"
