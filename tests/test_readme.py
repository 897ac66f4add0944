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


def test_quick_start_prints_what_the_readme_says(capsys):
    """The sentence after the quick start ("It prints 74 hidden spikes ... five output spikes between 44 and 53 ms")
    is read from the README and checked against what the block prints."""
    with open(README) as handle:
        text = handle.read()
    claim = re.search(r"It prints (\d+) hidden spikes .*? and (\w+) output spikes between (\d+) and (\d+) ms", text,
                      flags=re.DOTALL)
    assert claim is not None, "the README's sentence about the quick start's output is gone or reworded"
    n_hidden, n_output, low, high = claim.groups()
    exec(compile(_BLOCKS[0], "README.md python block 1", "exec"), {"__name__": "readme_block_1"})
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith(f"{n_hidden} hidden spikes;")
    times = [float(t) for t in re.search(r"\[(.*)\]", first_line).group(1).split()]
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
    assert len(times) == words.get(n_output, n_output) and all(float(low) <= t <= float(high) for t in times)
