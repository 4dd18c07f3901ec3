"""Which installed packages a worker may see, worked out from made-up installs (no worker started).

A site folder is written as pip leaves it (files and a ``.dist-info`` with its RECORD and its
requirements); what ``visible_packages`` returns is exactly what the worker's path will hold.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from compare.grader.workers import packages


def install(site: Path, name: str, files: dict, requires=(), record: bool = True) -> None:
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    if record:
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{info.name}/METADATA",
                                                                   f"{info.name}/RECORD"]))


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "venv" / "lib" / "site-packages"
    folder.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    packages._visible.cache_clear()
    yield folder
    packages._visible.cache_clear()
    importlib.invalidate_caches()


def shown(allow) -> set:
    return {name for name in packages.visible_packages(allow) if not name.startswith("numpy")}


@pytest.mark.parametrize("name", ["manual", "reference", "compare"])
def test_the_answer_key_can_never_be_allowed(name):
    with pytest.raises(ValueError, match=rf"allow_imports names '{name}': manual, reference, compare are the "
                                         "answer key and the grader, never shown to a submission"):
        packages.check_allowed(["scipy", name])
    packages.check_allowed(["scipy", "torchvision", "manuals"])  # names that only look alike


def test_numpy_is_always_shown_and_its_entries_are_real_folders():
    seen = packages.visible_packages()
    assert "numpy" in seen and all(path.exists() for path in seen.values())
    assert seen["numpy"] == Path(importlib.util.find_spec("numpy").origin).parent.resolve()


def test_requirements_are_followed_once_with_the_extras_asked(site):
    install(site, "course-kit", {"course_kit/__init__.py": ""},
            requires=["helper_a>=1.0", "helper-b[fast, small] ; python_version >= '3'",
                      'gui-only ; extra == "gui"', "missing-dep", "!!not a requirement"])
    install(site, "helper_a", {"helper_a.py": ""}, requires=["course-kit"])  # a cycle: followed once
    install(site, "helper-b", {"helper_b/__init__.py": ""},
            requires=['fast-lib ; extra == "fast"', 'slow-lib ; extra == "slow"'])
    install(site, "fast-lib", {"fast_lib.py": ""})
    install(site, "slow-lib", {"slow_lib.py": ""})
    install(site, "gui-only", {"gui_only.py": ""})
    assert shown(["course_kit"]) == {"course_kit", "course_kit-1.0.dist-info", "helper_a.py", "helper_a-1.0.dist-info",
                                     "helper_b", "helper_b-1.0.dist-info", "fast_lib.py", "fast_lib-1.0.dist-info"}


def test_the_same_allowed_name_twice_is_one(site):
    install(site, "solo", {"solo.py": ""})
    assert packages.visible_packages(["solo", "solo"]) == packages.visible_packages(["solo"])


def test_a_distribution_found_by_its_import_name(site):
    install(site, "Py-Widget", {"widget/__init__.py": "", "widget/core.py": ""})
    assert shown(["widget"]) == {"widget", "Py_Widget-1.0.dist-info"}


def test_what_an_install_never_shows(site):
    install(site, "odd", {"odd/__init__.py": "", "odd.pth": "", "__pycache__/odd.pyc": "", "../bin/odd": "",
                          "manual/__init__.py": ""})
    assert shown(["odd"]) == {"odd"}  # its folder only: not its .dist-info, nor the answer key it installs
    install(site, "plain", {"plain/__init__.py": "", "plain.pth": "", "__pycache__/plain.pyc": ""})
    assert shown(["plain"]) == {"plain", "plain-1.0.dist-info"}


def test_a_package_without_a_list_of_files_is_found_by_its_folder(site):
    install(site, "bare", {"bare/__init__.py": ""}, record=False)
    assert shown(["bare"]) == {"bare"}
    (site / "loose.py").write_text("")  # no metadata at all
    importlib.invalidate_caches()
    assert shown(["loose"]) == {"loose.py"}


def test_the_standard_library_and_missing_modules_add_nothing(site):
    assert shown(["json", "sys", "no_such_module_here"]) == set()


def test_the_projects_own_source_is_hidden(monkeypatch, tmp_path):
    assert packages.PROJECT == Path(__file__).resolve().parent.parent  # this checkout
    project = tmp_path / "checkout"
    monkeypatch.setattr(packages, "PROJECT", project)
    assert packages._hidden(project / "helpers")
    assert packages._hidden(project)
    assert not packages._hidden(project / ".venv" / "lib" / "site-packages" / "scipy")
    assert packages._hidden(tmp_path / "elsewhere" / "manual")
    assert packages._hidden(tmp_path / "elsewhere" / "compare.py")
    assert not packages._hidden(tmp_path / "elsewhere" / "manuals")


def test_names_are_compared_as_pip_does():
    assert packages._normal("Py_Widget.core--x") == "py-widget-core-x"


def test_numpy_missing_is_an_internal_error(monkeypatch):
    packages._visible.cache_clear()
    monkeypatch.setattr(packages, "ALWAYS", ("no_such_numpy",))
    try:
        with pytest.raises(RuntimeError, match="NumPy is not installed in the grader's Python"):
            packages.visible_packages()
    finally:
        packages._visible.cache_clear()


def test_the_answer_key_is_refused_when_asked_for_directly():
    with pytest.raises(ValueError, match="allow_imports names 'reference'"):
        packages.visible_packages(["reference"])


def test_a_frozen_or_built_in_module_adds_nothing(site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a grader started anywhere: "built-in" is no file of it
    assert shown(["_frozen_importlib", "sys", "builtins"]) == set()


def test_a_distribution_named_like_a_module_it_does_not_provide_is_not_taken(site):
    install(site, "widget", {"other_mod.py": ""})  # its name is "widget", its files are not
    install(site, "Py-Real", {"widget/__init__.py": ""})
    assert shown(["widget"]) == {"widget", "Py_Real-1.0.dist-info"}
