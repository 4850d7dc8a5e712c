"""Saving and showing figures: one PNG per figure, declared to DVC and shown in the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def save_figure(fig: plt.Figure, folder: str | Path, name: str, dpi: int = 110) -> Path:
    """Save ``fig`` as ``folder/name.png`` (folder created) and return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def publish(fig: plt.Figure, folder: str | Path, name: str) -> None:
    """Save ``fig`` (see :func:`save_figure`), show the saved PNG inline, close the figure.

    Showing the file rather than the live figure works under any matplotlib backend,
    so the rendered HTML report always holds exactly the image declared to DVC.
    """
    from IPython.display import Image, display

    path = save_figure(fig, folder, name)
    plt.close(fig)
    display(Image(filename=str(path)))
