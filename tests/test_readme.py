"""Every Python code block of README.md runs as written (each in a fresh namespace, in the order of the file)."""

from __future__ import annotations

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")


def python_blocks(text: str) -> list[str]:
    """The bodies of the fenced ```python blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_python_blocks_are_found():
    # guards the parser: a README without (or with unparsed) Python blocks must not pass silently
    assert python_blocks("text\n```python\nx = 1\n```\nmore\n```sh\nls\n```\n") == ["x = 1\n"]
    with open(README) as handle:
        assert len(python_blocks(handle.read())) >= 2


with open(README) as _handle:
    _BLOCKS = python_blocks(_handle.read())


@pytest.mark.parametrize("index", range(len(_BLOCKS)))
def test_readme_block_runs(index, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a block that writes files writes them here
    code = compile(_BLOCKS[index], f"README.md python block {index + 1}", "exec")
    exec(code, {"__name__": f"readme_block_{index + 1}"})
