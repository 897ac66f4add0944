"""The Python code blocks of the user guide (docs/guide/*.md) run as written.

The blocks of one page run in order in one namespace (a page builds on its earlier blocks), each page in a fresh
one, from a temporary working directory.
"""

from __future__ import annotations

import os
import re

import pytest

GUIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "guide")


def python_blocks(text: str) -> list[str]:
    """The bodies of the fenced ```python blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


PAGES = sorted(name for name in os.listdir(GUIDE) if name.endswith(".md"))


def page_blocks(page: str) -> list[str]:
    with open(os.path.join(GUIDE, page)) as handle:
        return python_blocks(handle.read())


def test_guide_pages_have_code():
    # guards the parser and the page list: a guide whose code went unparsed must not pass silently
    assert python_blocks("text\n```python\nx = 1\n```\n```sh\nls\n```\n") == ["x = 1\n"]
    with_code = [page for page in PAGES if page_blocks(page)]
    assert {"model.md", "simulate.md", "records.md", "gradients.md", "losses.md", "training.md"} <= set(with_code)


@pytest.mark.parametrize("page", [page for page in PAGES if page_blocks(page)])
def test_guide_page_runs(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"guide_{page[:-3]}"}
    for index, block in enumerate(page_blocks(page), start=1):
        exec(compile(block, f"docs/guide/{page} python block {index}", "exec"), namespace)
