"""Every piece of the study's jargon that a notebook uses has a glossary entry.

:data:`JARGON` lists the terms a newcomer would stop at. A term a notebook uses must
name (part of) the bold heading of an entry of ``docs/glossary.md``; a term no notebook
uses any more must leave the list, so the list cannot rot.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
HEADINGS = [h.lower() for h in re.findall(r"^\*\*(.+?)\*\*", GLOSSARY, flags=re.M)]

#: term as the notebooks write it -> the word of the glossary heading that defines it
JARGON = {
    "calibration": "calibration / holdout",
    "cross-fit": "cross-fitting",
    "Pareto/NBD": "pareto/nbd",
    "BG/NBD": "bg/nbd",
    "Gamma-Gamma": "gamma-gamma",
    "P(alive)": "p(alive)",
    "tracking plot": "tracking plot",
    "ZILN": "ziln",
    "TPE": "tpe",
    "ablation": "ablation",
    "Gini": "normalised gini",
    "gains chart": "gains chart",
    "top-decile capture": "top-decile capture",
    "decile MAPE": "decile mape",
    "pinball": "pinball",
    "Spearman": "spearman",
    "zero rule": "zero rule",
    "extrapolation": "extrapolation rule",
    "stacking": "stacking and weighted average",
    "weighted average": "stacking and weighted average",
    "oracle": "oracle",
    "gap closed": "gap closed",
    "paired bootstrap": "paired bootstrap",
    "recovery rate": "text recovery rate",
    "compact": "compact and plus",
    "zero-shot": "zero-shot aspect",
    "PCA": "pca",
    "(c′)": "(c′) and (c″)",
    "(c″)": "(c′) and (c″)",
    "SHAP": "shap",
    "MDP": "mdp",
    "incremental profit": "incremental profit",
    "one-step": "one-step uplift rule",
    "fitted Q-iteration": "fitted q-iteration",
    "rollout": "rollout",
    "MPC": "posterior mpc",
    "Q-learning": "q-learning",
    "SARSA": "sarsa",
    "DQN": "dqn",
    "safety switch": "safety switch",
    "PDIS": "pdis",
    "WPDIS": "wpdis",
    "FQE": "fqe",
    "doubly robust": "dr",
    "ESS": "ess",
    "hit@3": "hit@3",
    "silent defection": "silent defection",
}


def _notebook_text() -> str:
    parts = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            parts.append("".join(cell["source"]))
    return "\n".join(parts)


NOTEBOOKS = _notebook_text()


@pytest.mark.parametrize("term", sorted(JARGON))
def test_jargon_used_in_a_notebook_has_a_glossary_entry(term: str):
    assert term.lower() in NOTEBOOKS.lower(), f"no notebook uses {term!r}: drop it from JARGON"
    heading = JARGON[term]
    bullets = [b.lower() for b in re.findall(r"^- \*\*(.+?)\*\*", GLOSSARY, flags=re.M)]
    assert any(heading in h for h in HEADINGS + bullets), (
        f"{term!r} has no glossary entry whose heading names {heading!r}"
    )
