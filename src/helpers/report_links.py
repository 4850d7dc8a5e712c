"""How the rendered reports link to each other and to the glossary.

Every rendered notebook gets a short *study map* under its title: the previous and
next notebook, the index, the glossary, and where each of its data inputs came from
(which stage wrote it, read from ``dvc.yaml``). Links written in the notebooks to the
glossary (``../docs/glossary.md#term``, which JupyterLab opens) point to the rendered
``glossary.html`` in the reports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import mistune
import nbformat
import yaml

#: Where notebooks link to the glossary (relative to ``notebooks/``, and to ``reports/``).
GLOSSARY_SOURCE = "docs/glossary.md"
GLOSSARY_LINK = "../docs/glossary.md"
GLOSSARY_HTML = "glossary.html"
NOTEBOOK_GLOB = "[0-9][0-9]*_*.ipynb"

_TEMPLATE = re.compile(r"\$\{([^}]+)\}")


def short_title(notebook: str | Path) -> str:
    """``"04a · Baselines"``: the notebook's title up to its first colon."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].split(":")[0].strip()
    return Path(notebook).stem


def _resolve(path: str, params: dict[str, Any]) -> str:
    """``${base.paths.processed}/x`` → ``data/processed/x`` (DVC templating)."""

    def value(match: re.Match[str]) -> str:
        node: Any = params
        for key in match.group(1).split("."):
            node = node[key]
        return str(node)

    return _TEMPLATE.sub(value, path).rstrip("/")


def stage_inputs(root: str | Path, stem: str) -> dict[str, list[str]]:
    """Producing stage → the data files stage ``stem`` reads from it (per ``dvc.yaml``)."""
    root = Path(root)
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text())
    params = yaml.safe_load((root / "params.yaml").read_text())
    stages = pipeline.get("stages", {})
    producer: dict[str, str] = {}
    for name, stage in stages.items():
        for out in [*stage.get("outs", []), *stage.get("metrics", [])]:
            path = out if isinstance(out, str) else next(iter(out))
            producer[_resolve(path, params)] = name
    inputs: dict[str, list[str]] = {}
    for dep in stages.get(stem, {}).get("deps", []):
        path = _resolve(dep, params)
        source = producer.get(path) or next(
            (name for out, name in producer.items() if path.startswith(out + "/")), None
        )
        if source is not None and source != stem:
            inputs.setdefault(source, []).append(path)
    return inputs


def study_map(root: str | Path, stem: str, notebooks_dir: str = "notebooks") -> str:
    """Markdown: previous / index / glossary / next, and the inputs with their stages."""
    root = Path(root)
    order = sorted(p.stem for p in (root / notebooks_dir).glob(NOTEBOOK_GLOB))
    titles = {s: short_title(root / notebooks_dir / f"{s}.ipynb") for s in order}
    at = order.index(stem) if stem in order else -1
    parts = []
    if at > 0:
        parts.append(f"← previous: [{titles[order[at - 1]]}]({order[at - 1]}.html)")
    parts += ["[all reports](index.html)", f"[glossary]({GLOSSARY_HTML})"]
    if 0 <= at < len(order) - 1:
        parts.append(f"next: [{titles[order[at + 1]]}]({order[at + 1]}.html) →")
    lines = ["**Study map** · " + " · ".join(parts)]
    inputs = stage_inputs(root, stem)
    if inputs:
        listed = "; ".join(
            f"from [{titles.get(source, source)}]({source}.html): "
            + ", ".join(f"`{Path(p).name}`" for p in paths)
            for source, paths in inputs.items()
        )
        lines.append(f"**Inputs** — {listed}.")
    return "\n\n".join(lines)


def link_glossary(html_body: str) -> str:
    """Point the notebooks' glossary links at the rendered glossary page."""
    return html_body.replace(f'href="{GLOSSARY_LINK}', f'href="{GLOSSARY_HTML}')


def write_glossary(root: str | Path, reports_dir: str = "reports") -> Path:
    """Render ``docs/glossary.md`` to ``reports/glossary.html``."""
    root = Path(root)
    body = mistune.html((root / GLOSSARY_SOURCE).read_text(encoding="utf-8"))
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>CLV study — glossary"
        "</title><style>body{font-family:sans-serif;max-width:52rem;margin:2rem auto;"
        "line-height:1.45}a[id]{scroll-margin-top:1rem}</style></head><body>"
        "<p><a href='index.html'>← all reports</a></p>"
        f"{body}</body></html>\n"
    )
    out = root / reports_dir / GLOSSARY_HTML
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
