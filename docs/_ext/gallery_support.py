"""Run the scripts of ``examples/`` inside sphinx-gallery as they run from a shell.

The examples are command-line scripts: they parse ``--out DIR``, build the argparse description from their
module docstring, write their figure to ``DIR`` with ``plot.save_figure`` and close it. sphinx-gallery runs a
script with an empty ``__doc__`` and collects only figures still open at the end of a block, so this module

* stages each script into a build folder with its first docstring line made an reST title (sphinx-gallery
  takes a page's title from it) next to the gallery header; the code is copied unchanged;
* gives each executed script ``--out`` pointing at a fresh temporary folder and its own docstring back;
* adds to the page every PNG the script wrote into that folder (``PngOutputScraper``).

sphinx-gallery needs these hooks as importable names (``"gallery_support.reset_argv"``) so that Sphinx can
pickle its configuration; their state lives in this module because the gallery runs one script at a time.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

HEADER = """Examples
========

Scripts from the repository's ``examples/`` folder. Each runs from a shell as
``python examples/NAME.py --out DIR``; its docstring says what it shows and how long it takes. The short ones
are executed while these pages are built (their output and figures below are from that run); the longer ones
(training runs) are shown without execution.
"""

_state: dict[str, object] = {"out": None, "seen": set(), "docstrings": {}}


def stage_examples(source: Path, staged: Path) -> None:
    """Copy ``source/*.py`` to ``staged`` with a titled docstring, and write the gallery header.

    Parameters
    ----------
    source : Path
        The repository's ``examples/`` folder.
    staged : Path
        Folder sphinx-gallery reads (emptied first, so a deleted example leaves no page behind).
    """
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    (staged / "GALLERY_HEADER.rst").write_text(HEADER)
    for script in sorted(source.glob("*.py")):
        text = script.read_text()
        docstring = ast.get_docstring(ast.parse(text), clean=False)
        if not docstring:
            raise ValueError(f"{script}: an example needs a module docstring (its first line is the page title)")
        _state["docstrings"][script.name] = docstring
        first = docstring.splitlines()[0]
        title = first.strip().rstrip(".")
        # the title line is replaced by itself plus an underline, so the code below it keeps its text
        (staged / script.name).write_text(text.replace(first, f"{title}\n{'=' * len(title)}", 1))


def reset_argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    """Arguments of an executed example: ``--out`` a fresh temporary folder; restores its ``__doc__``."""
    cleanup()
    out = tempfile.mkdtemp(prefix="eventsnn-gallery-")
    _state["out"] = Path(out)
    _state["seen"] = set()
    name = Path(script_vars["src_file"]).name
    script_vars["example_globals"]["__doc__"] = _state["docstrings"].get(name, "")
    return ["--out", out]


def cleanup(*_args: object) -> None:
    """Delete the output folder of the last executed example (also connected to Sphinx's build-finished)."""
    if _state["out"] is not None:
        shutil.rmtree(_state["out"], ignore_errors=True)
        _state["out"] = None


class PngOutputScraper:
    """sphinx-gallery image scraper: the PNG files an example wrote into its ``--out`` folder."""

    def __call__(self, block, block_vars: dict, gallery_conf: dict) -> str:
        out = _state["out"]
        if out is None:
            return ""
        new = sorted(p for p in Path(out).glob("*.png") if p not in _state["seen"])
        paths = []
        for png, target in zip(new, block_vars["image_path_iterator"]):
            shutil.copyfile(png, target)
            _state["seen"].add(png)
            paths.append(target)
        return figure_rst(paths, gallery_conf["src_dir"])

    def __repr__(self) -> str:
        # sphinx-gallery puts the scrapers' repr into its cache key; an address would defeat the cache
        return "PngOutputScraper"


png_output_scraper = PngOutputScraper()
