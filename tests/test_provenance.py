"""run.json records the source a run came from: the commit of the package's checkout and whether the package's
files differed from it; nothing (None) when the package is not a checkout of eventsnn or git is unavailable."""

import os
import subprocess

import pytest

from eventsnn import _provenance

def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _checkout(root):
    """A git repository holding an ``eventsnn/`` package with one committed file."""
    package = root / "eventsnn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    return package


@pytest.fixture
def package_at(monkeypatch):
    """Point the provenance lookup at another package directory (the cache is cleared before and after)."""
    def point(directory):
        monkeypatch.setattr(_provenance, "_PACKAGE_DIR", str(directory))
        _provenance.source_revision.cache_clear()
    yield point
    _provenance.source_revision.cache_clear()


def test_a_checkout_gives_its_commit_and_notices_modified_files(tmp_path, package_at):
    package = _checkout(tmp_path)
    package_at(package)
    assert _provenance.source_revision() == {"commit": _git(tmp_path, "rev-parse", "HEAD"), "modified": False}
    (package / "__init__.py").write_text("x = 2\n")
    _provenance.source_revision.cache_clear()
    assert _provenance.source_revision()["modified"] is True


def test_files_outside_the_package_do_not_count_as_modified(tmp_path, package_at):
    package = _checkout(tmp_path)
    (tmp_path / "notes.txt").write_text("not the package\n")
    package_at(package)
    assert _provenance.source_revision()["modified"] is False


def test_a_package_inside_another_projects_repository_is_not_a_checkout(tmp_path, package_at):
    _checkout(tmp_path)  # the repository's own eventsnn/ is not the package below
    vendored = tmp_path / "vendor" / "eventsnn"
    vendored.mkdir(parents=True)
    package_at(vendored)
    assert _provenance.source_revision() == {"commit": None, "modified": None}


def test_no_repository_or_no_git_gives_none(tmp_path, package_at, monkeypatch):
    package = tmp_path / "site-packages" / "eventsnn"
    package.mkdir(parents=True)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # do not find a repository above tmp_path
    package_at(package)
    assert _provenance.source_revision() == {"commit": None, "modified": None}
    package_at(_checkout(tmp_path / "repo"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _provenance.source_revision() == {"commit": None, "modified": None}


def test_the_installed_package_reports_its_own_checkout():
    """Whatever this test run imports: from a checkout its HEAD, from an installed copy None."""
    _provenance.source_revision.cache_clear()
    here = os.path.dirname(os.path.abspath(_provenance.__file__))
    try:
        top = _git(here, "rev-parse", "--show-toplevel")
    except subprocess.CalledProcessError:
        top = None
    own = top is not None and os.path.isdir(os.path.join(top, "eventsnn")) and \
        os.path.samefile(os.path.join(top, "eventsnn"), here)
    expected = _git(here, "rev-parse", "HEAD") if own else None
    assert _provenance.source_revision()["commit"] == expected
