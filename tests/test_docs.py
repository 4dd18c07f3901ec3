"""The docs' sample outputs still match what the commands print now.

``docs/regenerate.py`` reruns every quick sample and compares it with the block in the docs
through ``normalise``: only timings, memory, the data folder and rounding-level digits may
differ. A sample that no longer matches fails here; ``python docs/regenerate.py`` rewrites it.
"""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

from compare.lab.epoch_table import table_rows

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("regenerate", REPO / "docs" / "regenerate.py")
regenerate = importlib.util.module_from_spec(spec)
sys.modules["regenerate"] = regenerate  # dataclasses look their module up there
spec.loader.exec_module(regenerate)

QUICK = [name for name, sample in regenerate.SAMPLES.items() if not sample.long]


@pytest.mark.parametrize("name", QUICK)
def test_doc_sample_matches_a_fresh_run(name, tmp_path):
    sample = regenerate.SAMPLES[name]
    in_doc = regenerate.doc_samples(REPO / sample.doc)[name]
    # Its --out lands in tmp_path, not in the repository (validate's samples name files there and write nothing).
    fresh = regenerate.run_sample(sample, cwd=REPO if sample.in_repo else tmp_path)
    assert regenerate.normalise(fresh) == regenerate.normalise(in_doc)


def test_every_sample_block_has_a_command_and_every_command_a_block():
    blocks = {}
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        blocks.update({name: doc for name in regenerate.doc_samples(doc)})
    assert set(blocks) == {name for name, sample in regenerate.SAMPLES.items() if sample.block}
    for name, doc in blocks.items():
        assert doc == REPO / regenerate.SAMPLES[name].doc


def test_normalise_masks_only_what_varies_by_machine():
    row = "  manual-matrix W1    (2, 2)         4.16e-17    6.19e-16  (0, 0)                              ok"
    other = "  manual-matrix W1    (2, 2)         1.39e-17    2.06e-16  (1, 1)                              ok"
    assert regenerate.normalise(row) == regenerate.normalise(other)
    fd = "  finite-diff   W1    (2, 2)         4.70e-11    5.16e-10  (0, 1)      1.00000000..1.00000001  ok"
    assert regenerate.normalise(fd) == regenerate.normalise(fd.replace("4.70e-11", "5.02e-11"))
    assert regenerate.normalise(fd) != regenerate.normalise(fd.replace("4.70e-11", "4.70e-05"))
    assert regenerate.normalise(fd) != regenerate.normalise(fd.replace("(0, 1)", "(1, 1)"))  # not rounding level
    table = "   30 manual     0.0029   0.00     0.0561   1.48     0.0538   1.54     3.38  5.45e-01"
    assert regenerate.normalise(table) == regenerate.normalise(table.replace("3.38", "12.07"))
    assert regenerate.normalise(table) != regenerate.normalise(table.replace("1.54", "1.55"))  # accuracy is not noise
    assert regenerate.normalise("1 s wall, peak RSS 9 MiB") == regenerate.normalise("80 s wall, peak RSS 12 MiB")




FIGURE_OF = {figure: name for name, sample in regenerate.SAMPLES.items() for _, figure in sample.figures}


def test_every_figure_comes_from_a_sample_and_has_its_numbers_beside_it():
    figures = sorted(path.name for path in regenerate.FIGURES.glob("*.png"))
    assert figures and set(figures) == set(FIGURE_OF)  # no figure drawn by hand, none left over
    for figure, name in FIGURE_OF.items():
        sample = regenerate.SAMPLES[name]
        doc = (REPO / sample.doc).read_text()
        assert f"figures/{figure})" in doc, f"{sample.doc} does not show {figure}, drawn by its sample {name}"
        has_data = regenerate.figure_data_path(name).exists()
        assert has_data != (figure in regenerate.FIGURES_WITHOUT_DATA), figure


WITH_DATA = [name for name in regenerate.SAMPLES if regenerate.figure_data_path(name).exists()]


@pytest.mark.parametrize("name", WITH_DATA)
def test_a_figure_shows_the_numbers_printed_beside_it(name):
    """The numbers a figure was drawn from (docs/figures/<sample>.json) are those its doc prints."""
    data = json.loads(regenerate.figure_data_path(name).read_text())
    doc = (REPO / regenerate.SAMPLES[name].doc).read_text()
    assert regenerate.figure_mismatches(name, data, doc) == []


def test_a_figure_from_another_run_is_caught():
    data = json.loads(regenerate.figure_data_path("circles").read_text())
    doc = (REPO / "docs" / "training.md").read_text()
    data["epochs"][9]["torch"]["test_error"] += 1 / 165  # epoch 10: one more test point wrong in the figure
    assert regenerate.figure_mismatches("circles", data, doc) == table_rows(data["epochs"][9])[1:]  # its torch row


def test_docs_stand_on_their_own():
    """No doc points outside the repository, and every relative link (figures included) resolves."""
    data_dir = os.environ.get("COMPARE_DATA_DIR")
    for path in regenerate.FIGURES.glob("*.json"):  # the figures' numbers name no folder of this machine
        text = path.read_text()
        assert str(REPO) not in text and "../shared" not in text, path
        assert not data_dir or str(Path(data_dir).resolve()) not in text, path
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text()
        assert "../shared" not in text, doc
        for link in re.findall(r"\]\(([^)#]+)\)", text):
            target = (doc.parent / link).resolve()
            if not link.startswith("http"):
                assert target.exists(), f"{doc.name} links to missing {link}"
