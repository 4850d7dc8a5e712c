"""Locate the project root so that paths never depend on the working directory.

Papermill runs kernels in the repository root, JupyterLab in ``notebooks/``; both
find the same root: the nearest folder upwards holding ``dvc.yaml`` or ``params.yaml``.
"""

from __future__ import annotations

from pathlib import Path

MARKERS = ("dvc.yaml", "params.yaml")


def project_root(start: str | Path | None = None) -> Path:
    """The nearest ancestor of ``start`` (default: the working directory) with a marker file.

    Raises
    ------
    FileNotFoundError
        When no ancestor holds ``dvc.yaml`` or ``params.yaml``.
    """
    here = Path.cwd() if start is None else Path(start)
    here = here.resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_file() for marker in MARKERS):
            return folder
    raise FileNotFoundError(f"no dvc.yaml or params.yaml found in {here} or any parent folder")
