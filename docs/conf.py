"""Sphinx configuration of the eventsnn documentation.

Build (offline, warnings are errors, a failing gallery example fails the build)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

or ``tools/build_docs.sh``. Pages are Markdown (MyST); docstrings are NumPy style (numpydoc); ``examples/`` becomes
a gallery (sphinx-gallery). Nothing is fetched while building: no intersphinx, no remote images.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# the package of this checkout, not an installed copy of another one
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import gallery_support
from sphinx.pycode import ModuleAnalyzer

import eventsnn

project = "eventsnn"
author = "the eventsnn authors"
copyright = "eventsnn authors, MIT licence"
release = eventsnn.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", "gallery/*.md5", "gallery/*.py", "gallery/*.ipynb",
                    "gallery/*.zip", "gallery/*.json"]

# --- Markdown --------------------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# slugs for "page.md#section" links, as GitHub makes them, down to ### headings
myst_heading_anchors = 3

# --- API reference -----------------------------------------------------------------------------------------------
# autosummary only draws the member tables of the module pages written below (no stub pages)
autosummary_generate = False
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
# numpydoc renders the sections; the member tables are on the module pages (write_module_pages)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Documented parameters must exist (PR02) and be written "name : type" (PR10): a docstring that disagrees with
# the signature fails the build. PR01 (every parameter documented) is not enforced: short docstrings of helpers
# say in prose what their arguments are.
numpydoc_validation_checks = {"PR02", "PR10"}
numpydoc_validation_exclude = {
    # pending fix in eventsnn/network.py: the paragraph after "delays" ('The input population is called "input"
    # ...') is read as a parameter; move it above "Parameters". Remove this entry with the fix.
    r"eventsnn\.network\.Network\.feedforward$",
}

# Broken cross-references fail the build: every `py:` reference must resolve, except to the documented outside
# libraries below (the build fetches no inventories, so numpy, matplotlib, ... have no targets here).
nitpicky = True
nitpick_ignore = [
    # signature annotations of eventsnn.plot: matplotlib classes and the module's own colour alias
    ("py:class", "Axes"), ("py:class", "Figure"), ("py:class", "Color"),
    # pending docstring fixes in modules other changes are editing at the same time; each entry names its fix
    # (remove the entry with the fix): eventsnn/gradient_methods.py (module docstring) and eventsnn/readout.py
    # (LIReadout.creation_term) write :meth:`LossResult.creation_cotangent`, which must be
    # :meth:`eventsnn.losses.LossResult.creation_cotangent` outside eventsnn.losses.
    ("py:meth", "LossResult.creation_cotangent"),
    # eventsnn/optim.py: SGD.load_state and Adam.load_state cite :meth:`state`, which has no docstring and so no
    # entry; give SGD.state and Adam.state a docstring (e.g. "The optimizer's state as named arrays, what
    # load_state restores.").
    ("py:meth", "state"),
]
nitpick_ignore_regex = [
    ("py:.*", (r"(numpy|np|matplotlib|scipy|numba|tqdm|torch|jax|nir|tonic|dask|distributed|tomllib|tomli|"
               r"pathlib|os|typing|collections|dataclasses|argparse|datetime|io)(\..*)?")),
    # private names (a leading underscore) have no page; signatures may still name them
    ("py:.*", r"eventsnn(\.\w+)*\._\w+(\.\w+)*"),
    ("py:class", (r"(int|float|str|bool|bytes|object|dict|list|tuple|set|frozenset|type|slice|None|"
                  r"callable|optional|array_like|array-like|ArrayLike|NDArray|Path|PathLike|Sequence|"
                  r"Mapping|Iterable|Iterator|Callable|Any|Union|Optional|Literal|Generator)")),
    # a builtin generic in an attribute's annotation (e.g. ``tuple[int, ...] | None``) is split at its comma
    ("py:class", r"(tuple|list|dict|set|frozenset)\[.*"),
]

# One page per public module (every module of the package whose name does not start with "_"), generated here
# rather than by autosummary: autosummary resolves "eventsnn.simulate" to the function that the package namespace
# re-exports under the module's name. A new public module gets its page without editing anything.
API_GENERATED = DOCS / "api" / "generated"


def public_modules() -> list[str]:
    """Names of the public modules of eventsnn, sorted."""
    found = []
    for info in pkgutil.walk_packages(eventsnn.__path__, prefix="eventsnn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def _module_constants(module) -> list[str]:
    """Public ALL_CAPS names a module assigns at top level (its documented constants), in source order."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and not target.id.startswith("_"):
                names.append(target.id)
    return names


def module_members(modname: str) -> tuple[list[str], list[str]]:
    """Public members of a module: those it defines, and those it re-exports from another module.

    The members are the module's ``__all__`` if it has one, else its public classes and functions and its ALL_CAPS
    constants, in source order. A re-exported class or function is documented in the module that defines it and
    only linked from here.
    """
    module = importlib.import_module(modname)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, obj in vars(module).items()
                 if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                 and obj.__module__ == modname]
        names += [name for name in _module_constants(module) if name not in names]
    defined, reexported = [], []
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        home = getattr(obj, "__module__", modname) if (inspect.isclass(obj) or inspect.isroutine(obj)) else modname
        (defined if home == modname else reexported).append(name)
    return defined, reexported


def _member_directive(module, name: str) -> list[str]:
    """The directive that documents one module member."""
    obj = getattr(module, name)
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        return [f".. {kind}:: {name}", "   :members:", ""]
    if callable(obj):
        return [f".. autofunction:: {name}", ""]
    # A constant: its "#:" doc comment, if any (autodata would show the docstring of the value's type instead),
    # and its value when short and plain (no object addresses, which change from build to build).
    comment = ModuleAnalyzer.for_module(module.__name__).find_attr_docs().get(("", name), [])
    value = repr(obj)
    show = len(value) <= 80 and "<" not in value and " at 0x" not in value and "\n" not in value
    lines = [f".. py:data:: {name}"] + ([f"   :value: {value}"] if show else []) + [""]
    return lines + [f"   {line}" if line else "" for line in comment] + [""]


def _is_constant(module, name: str) -> bool:
    obj = getattr(module, name)
    return not (inspect.isclass(obj) or callable(obj))


def write_module_pages() -> None:
    """Write ``api/generated/<module>.rst``: the module's docstring, a member table, then every member."""
    if API_GENERATED.exists():
        for old in API_GENERATED.glob("*.rst"):
            old.unlink()
    API_GENERATED.mkdir(parents=True, exist_ok=True)
    for modname in public_modules():
        module = importlib.import_module(modname)
        defined, reexported = module_members(modname)
        lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}", "   :no-members:", "",
                 f".. currentmodule:: {modname}", ""]
        if reexported:
            lines += ["Defined in submodules and importable from here:", ""]
            for name in reexported:
                obj = getattr(module, name)
                lines += [f"* :py:obj:`{modname}.{name} <{obj.__module__}.{obj.__qualname__}>`"]
            lines += [""]
        # the summary table lists classes and functions; constants follow them, documented by their comments
        table = [name for name in defined if not _is_constant(module, name)]
        if table:
            lines += [".. autosummary::", ""] + [f"   {name}" for name in table] + [""]
        for name in sorted(defined, key=lambda member: _is_constant(module, member)):
            lines += _member_directive(module, name)
        (API_GENERATED / f"{modname}.rst").write_text("\n".join(lines) + "\n")


write_module_pages()

# --- Gallery -----------------------------------------------------------------------------------------------------
# Examples executed at build time: the ones that finish in a few seconds. Longer ones (training runs) are shown
# with their code only. To execute a new fast example, add its file name here.
EXECUTED_EXAMPLES = ("raster.py", "nmnist_events.py")
STAGED_EXAMPLES = DOCS / "_build" / "gallery_src"
gallery_support.stage_examples(ROOT / "examples", STAGED_EXAMPLES)

sphinx_gallery_conf = {
    "examples_dirs": os.path.relpath(STAGED_EXAMPLES, DOCS),
    "gallery_dirs": "gallery",
    "filename_pattern": "/(" + "|".join(name.replace(".", r"\.") for name in EXECUTED_EXAMPLES) + ")$",
    "ignore_pattern": r"/_",
    "reset_argv": "gallery_support.reset_argv",
    "image_scrapers": ("gallery_support.png_output_scraper",),
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "show_signature": False,
    "copyfile_regex": "",
    # thumbnail of the examples that are not executed (they produce no figure at build time)
    "default_thumb_file": str(DOCS / "_static" / "thumb_not_executed.png"),
}

# --- HTML --------------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"eventsnn {release}"
html_static_path = ["_static"]
html_css_files = ["eventsnn.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}


def _is_private(modname: str) -> bool:
    return any(part.startswith("_") for part in modname.split("."))


def _canonical_name(name: str) -> str:
    """Where ``eventsnn.<name>`` is documented: its defining public module, else the package itself."""
    obj = getattr(eventsnn, name)
    if inspect.ismodule(obj):
        return obj.__name__
    if _is_private(obj.__module__):
        return f"eventsnn.{name}"
    return f"{obj.__module__}.{obj.__qualname__}"


def _fill_api_index(app, docname, source):
    """Replace the markers of the API index by tables built from the package.

    ``<!-- public-names -->``: a table of ``eventsnn.__all__``, so a name added there appears without editing the
    page; each entry links to the object's entry in its defining module, and names defined in a private module
    (no page of their own) are documented below the table. ``<!-- public-modules -->``: a table of the module
    pages with the first paragraph of each module's docstring.
    """
    marker = "<!-- public-names -->"
    if marker not in source[0]:
        return
    rows = ["| name | what it is |", "|---|---|"]
    private = []
    for name in eventsnn.__all__:
        obj = getattr(eventsnn, name)
        summary = (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", r"\|")
        # reST roles in a summary are relative to their own module: show them as code
        summary = re.sub(r":(?:py:)?\w+:`~?([^`]+)`", r"`\1`", summary).replace("``", "`")
        rows.append(f"| {{py:obj}}`eventsnn.{name} <{_canonical_name(name)}>` | {summary} |")
        if not inspect.ismodule(obj) and _is_private(obj.__module__):
            private.append((name, "autoexception" if isinstance(obj, type) and issubclass(obj, BaseException)
                            else "autoclass" if inspect.isclass(obj) else "autofunction"))
    text = "\n".join(rows)
    if private:
        text += "\n\n```{eval-rst}\n.. currentmodule:: eventsnn\n\n"
        text += "\n".join(f".. {kind}:: {name}\n" for name, kind in private) + "```\n"
    source[0] = source[0].replace(marker, text)
    if "<!-- public-modules -->" in source[0]:
        rows = ["| module | what it holds |", "|---|---|"]
        for modname in public_modules():
            first = (importlib.import_module(modname).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            first = re.sub(r":(?:py:)?\w+:`~?([^`]+)`", r"`\1`", first).replace("``", "`").replace("|", r"\|")
            rows.append(f"| [`{modname}`](generated/{modname}.rst) | {first} |")
        source[0] = source[0].replace("<!-- public-modules -->", "\n".join(rows))


def _lookup(dotted: str, default: object = None) -> object:
    """The object a dotted ``eventsnn...`` name names, importing modules on the way; ``default`` if none."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return default
        return obj
    return default


def _resolve_by_identity(app, env, node, contnode):
    """Resolve a reference to an eventsnn object under the name it is documented by.

    Docstrings name objects as Python code sees them: by the names users import (``eventsnn.vjp``,
    ``eventsnn.datasets.load_nmnist``) or by a name imported into the module they are in (``load_spec`` in
    ``eventsnn.sweep``). The API pages document each object once, under its defining module. A reference that
    Sphinx cannot find is looked up the way Python would (as written, then relative to the current class and
    module), and redirected to the documented name of that same object (identity, not a name match); a name
    that does not exist, or an object that is not documented, still fails the build.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    candidates = [target]
    if node.get("py:module"):
        candidates.append(f"{node['py:module']}.{target}")
        if node.get("py:class"):
            candidates.append(f"{node['py:module']}.{node['py:class']}.{target}")
    domain = env.get_domain("py")
    last = target.rsplit(".", 1)[-1]
    for dotted in candidates:
        if not dotted.startswith("eventsnn"):
            continue
        sentinel = object()
        obj = _lookup(dotted, sentinel)
        if obj is sentinel:
            continue
        for documented in domain.objects:
            if documented != target and documented.rsplit(".", 1)[-1] == last \
                    and _lookup(documented, sentinel) is obj:
                return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], documented, node,
                                           contnode)
    return None


_ABSOLUTE_VALUE = re.compile(r"(?<![|\\])\|([^|\s`][^|`]*?)\|(?!\|)")


def _escape_absolute_values(app, what, name, obj, options, lines):
    """Render ``|x|`` in docstrings as written (absolute values), not as reST substitution references.

    eventsnn's docstrings are also read as plain text (``help()``) and write absolute values as ``|dt/dV|``; the
    package defines no reST substitutions, so every ``|...|`` span is text.
    """
    for i, line in enumerate(lines):
        stripped = line.strip()
        # reST tables and line blocks are left alone (a table row starts and ends with "|" or "+")
        if "|" in line and not (stripped[:1] in "|+" and stripped[-1:] in "|+" and len(stripped) > 1):
            lines[i] = _ABSOLUTE_VALUE.sub(r"\\|\1\\|", line)


def _skip_inherited_docstrings(app, what, name, obj, skip, options):
    """Leave out class members that have no docstring of their own.

    autodoc would otherwise show the base class's docstring, e.g. ``torch.autograd.Function.forward``'s for the
    ``forward`` of eventsnn's autograd functions, with references into another project's documentation.
    """
    if skip or what not in ("class", "exception"):
        return None
    function = getattr(obj, "__func__", obj)
    if inspect.isroutine(function) and getattr(function, "__doc__", None) is None:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_docstrings)
    app.connect("source-read", _fill_api_index)
    app.connect("missing-reference", _resolve_by_identity)
    app.connect("autodoc-process-docstring", _escape_absolute_values)
    app.connect("build-finished", gallery_support.cleanup)
