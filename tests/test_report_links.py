"""The study map under each report's title, glossary links, and the glossary itself."""

import re
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_markdown_cell, new_notebook

from helpers.pipeline import report_notebook
from helpers.report_links import (
    GLOSSARY_LINK,
    link_glossary,
    stage_inputs,
    study_map,
    write_glossary,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def _project(tmp_path: Path) -> Path:
    for stem, title in (("01_a", "01 · First: x"), ("02_b", "02 · Second"), ("03_c", "03 · Third")):
        nb = new_notebook(cells=[new_markdown_cell(f"# {title}\n\nSummary.")])
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        nbformat.write(nb, str(tmp_path / "notebooks" / f"{stem}.ipynb"))
    stages = {
        "01_a": {"deps": ["raw.csv"], "outs": ["${base.paths.out}/a.parquet", "figs/01"]},
        "02_b": {"deps": ["${base.paths.out}/a.parquet"], "outs": ["b.json"]},
        "03_c": {
            "deps": ["src/helpers/x.py", "data/a.parquet", "b.json", "figs/01/f.png"],
            "metrics": [{"m.json": {"cache": False}}],
        },
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "params.yaml").write_text("base:\n  paths:\n    out: data\n")
    return tmp_path


def test_inputs_are_traced_to_the_stage_that_wrote_them(tmp_path):
    root = _project(tmp_path)
    assert stage_inputs(root, "03_c") == {
        "01_a": ["data/a.parquet", "figs/01/f.png"],
        "02_b": ["b.json"],
    }
    assert stage_inputs(root, "01_a") == {}


def test_study_map_links_previous_next_index_glossary_and_inputs(tmp_path):
    root = _project(tmp_path)
    middle = study_map(root, "02_b")
    assert "← previous: [01 · First](01_a.html)" in middle
    assert "next: [03 · Third](03_c.html) →" in middle
    assert "[glossary](glossary.html)" in middle and "[all reports](index.html)" in middle
    assert "**Inputs** — from [01 · First](01_a.html): `a.parquet`." in middle
    assert "previous" not in study_map(root, "01_a") and "next" not in study_map(root, "03_c")


def test_report_places_the_map_under_the_title_and_points_glossary_links_to_html():
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_markdown_cell("body")])
    shown = report_notebook(nb, "**Study map** · x")
    assert [c.source for c in shown.cells] == ["# T", "**Study map** · x", "body"]
    body = f'<a href="{GLOSSARY_LINK}#gini">Gini</a>'
    assert link_glossary(body) == '<a href="glossary.html#gini">Gini</a>'


def test_every_notebook_links_to_the_glossary_and_every_anchor_exists():
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', glossary))
    for path in NOTEBOOKS:
        text = "\n".join(
            c.source for c in nbformat.read(str(path), 4).cells if c.cell_type == "markdown"
        )
        assert GLOSSARY_LINK in text, f"{path.name} does not link to the glossary"
        for anchor in re.findall(re.escape(GLOSSARY_LINK) + r"#([\w-]+)", text):
            assert anchor in anchors, f"{path.name} links to a missing glossary entry #{anchor}"


def test_glossary_renders_with_its_anchors(tmp_path):
    out = write_glossary(ROOT, str(tmp_path))
    page = out.read_text()
    assert '<a id="weighted-decile-error"></a>' in page and "<h1>Glossary</h1>" in page


def test_links_between_reports_name_reports_that_exist():
    """A markdown link from one report to another (``NN_name.html`` or, wrongly, the
    ``.ipynb``) must name a stage that exists, as its rendered ``.html``."""
    stems = {path.stem for path in NOTEBOOKS}
    wrong = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(str(path), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type != "markdown":
                continue
            for target, suffix in re.findall(
                r"\]\((\d\d[0-9a-z_]*)\.(html|ipynb)[#)]", cell.source
            ):
                if suffix != "html" or target not in stems:
                    wrong.append(f"{path.name}: {target}.{suffix}")
    assert wrong == []
