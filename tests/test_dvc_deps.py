"""dvc.yaml agrees with the code: each stage lists its notebook's import closure and
passes exactly the parameters its notebook declares, with defaults equal to params.yaml."""

import shlex
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers.import_closure import covering_paths, is_covered, notebook_closure
from helpers.pipeline import cell_assignments, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
NOTEBOOK_STAGES = {name: s for name, s in DVC.items() if "helpers.pipeline run" in s["cmd"]}


def _args(cmd: str) -> tuple[Path, list[str], list[str]]:
    words = shlex.split(cmd)
    notebook = Path(words[words.index("run") + 1])

    def option(flag: str) -> list[str]:
        return [s for s in words[words.index(flag) + 1].split(",") if s] if flag in words else []

    return notebook, option("--sections"), option("--nested")


def test_every_numbered_notebook_is_a_stage():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")}
    assert notebooks == set(NOTEBOOK_STAGES)


@pytest.mark.parametrize("stage", sorted(NOTEBOOK_STAGES))
def test_stage_lists_the_import_closure_of_its_notebook(stage: str):
    notebook, _, _ = _args(NOTEBOOK_STAGES[stage]["cmd"])
    deps = [ROOT / d for d in NOTEBOOK_STAGES[stage]["deps"]]
    closure = notebook_closure(ROOT / notebook, ROOT / "src", extra=["helpers.pipeline"])
    missing = sorted(str(p.relative_to(ROOT)) for p in closure if not is_covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage} misses code it runs: {missing}"
    code_deps = [d for d in deps if d.is_relative_to(ROOT / "src") and d.suffix in ("", ".py")]
    needed = {ROOT / p for p in covering_paths(closure, ROOT / "src")}
    extra = sorted(str(d.relative_to(ROOT)) for d in code_deps if d not in needed)
    assert not extra, f"dvc.yaml stage {stage} lists code it never imports: {extra}"


def test_closure_follows_imports_inside_packages(tmp_path: Path):
    pkg = tmp_path / "helpers"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("from .a import f\n")
    (pkg / "models" / "a.py").write_text("def f():\n    from helpers import b\n")
    (pkg / "models" / "c.py").write_text("")
    (pkg / "b.py").write_text("")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from helpers.models import a")])
    nbformat.write(nb, tmp_path / "n.ipynb")
    files = notebook_closure(tmp_path / "n.ipynb", tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in files)
    assert names == [
        "helpers/__init__.py",
        "helpers/b.py",
        "helpers/models/__init__.py",
        "helpers/models/a.py",
    ]
    assert covering_paths(files, tmp_path) == sorted(str(tmp_path / n) for n in names)


@pytest.mark.parametrize("stage", sorted(NOTEBOOK_STAGES))
def test_parameters_cell_matches_params_yaml(stage: str):
    notebook, sections, nested = _args(NOTEBOOK_STAGES[stage]["cmd"])
    passed = notebook_parameters(PARAMS, sections, nested)
    nb = nbformat.read(ROOT / notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults = cell_assignments(cell.source)
    assert sorted(defaults) == sorted(passed), "parameters cell and params.yaml sections differ"
    for name, value in passed.items():
        assert defaults[name] == value, f"{notebook.name}: default of {name!r} != params.yaml"
    body = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not cell)
    shared = set(PARAMS["base"])  # passed to every stage whether it needs them or not
    unused = [name for name in defaults if name not in body and name not in shared]
    assert not unused, f"{notebook.name}: parameters never used: {unused}"
    listed = set(NOTEBOOK_STAGES[stage]["params"])
    assert set(sections) | set(nested) <= listed, "dvc.yaml must track every section passed"
