"""One entry point to every dataset of the study: ``load_events`` / ``load_dataset``.

=================  ============================================================
``shopsim``        the embedded shop simulator (:mod:`helpers.data.shopsim`), with truth
``cdnow``          the real CDNOW master file (built in: ``builtin/CDNOW_master.txt``)
``online_retail``  UCI Online Retail / Online Retail II, from ``path`` (null: built-in copy)
``events``         any CSV/Parquet event file, from ``path`` and a column ``mapping``
=================  ============================================================

Each load returns validated canonical events (:data:`helpers.data.schema.EVENT_SCHEMA`)
and a :class:`~helpers.data.schema.QualityReport` that accounts for every input row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.data import loaders
from helpers.data.schema import DataError, QualityReport, clean_events
from helpers.data.shopsim import ShopSimConfig, simulate_shop

DATASETS: tuple[str, ...] = ("shopsim", "cdnow", "online_retail", "events")


@dataclass
class LoadedData:
    """Events in the canonical schema, their quality report, and (shopsim only) the truth."""

    events: pd.DataFrame
    quality: QualityReport
    truth: pd.DataFrame | None = None


def _resolve(path: Any, root: str | Path | None) -> Any:
    """A relative ``path`` is taken from ``root`` (the project root) when given."""
    if not path or root is None or Path(path).is_absolute():
        return path
    return str(Path(root) / path)


def load_dataset(
    dataset: str, seed: int | None = None, root: str | Path | None = None, **options: Any
) -> LoadedData:
    """Load ``dataset`` with its ``options`` (the dataset's block in ``params.yaml``).

    Parameters
    ----------
    dataset : {"shopsim", "cdnow", "online_retail", "events"}
    seed : int, optional
        Required by ``shopsim``; ignored by file-based datasets.
    root : path, optional
        Folder that a relative ``path`` is read from (the project root, as in
        ``dvc.yaml``); without it, the working directory.
    **options
        ``shopsim``: fields of :class:`~helpers.data.shopsim.ShopSimConfig`;
        ``cdnow``: optional ``path``; ``online_retail``: optional ``path`` (the
        built-in UCI Online Retail file when missing or null; ``params.yaml`` names it,
        so that DVC tracks the file), ``currency`` and ``allow_implausible_dates``;
        ``events``: ``path``, ``mapping`` and the other arguments of
        :func:`helpers.data.loaders.load_event_file`. The split keys ``cutoff`` and
        ``holdout_end`` may be present and are ignored here (except by shopsim).
    """
    options = dict(options)
    if dataset == "shopsim":
        if seed is None:
            raise ValueError("dataset 'shopsim' needs an explicit seed")
        known = ShopSimConfig.__dataclass_fields__
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown shopsim option(s) {unknown}; known: {sorted(known)}")
        config = ShopSimConfig(**options)
        result = simulate_shop(config, seed=seed)
        as_of = pd.Timestamp(config.holdout_end, tz="UTC") + pd.Timedelta(days=1)
        events, report = clean_events(result.events, "shopsim", as_of=as_of)
        return LoadedData(events=events, quality=report, truth=result.truth)
    for split_key in ("cutoff", "holdout_end"):
        options.pop(split_key, None)
    if "path" in options:
        options["path"] = _resolve(options["path"], root)
    if dataset == "cdnow":
        events, report = loaders.load_cdnow(**options)
    elif dataset == "online_retail":
        options["path"] = options.get("path") or None  # null: the built-in UCI file
        events, report = loaders.load_online_retail(**options)
    elif dataset == "events":
        if not options.get("path"):
            raise DataError(f"dataset '{dataset}': set `path` to your file in params.yaml")
        events, report = loaders.load_event_file(**options)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    return LoadedData(events=events, quality=report)


def load_events(dataset: str, seed: int | None = None, **options: Any) -> pd.DataFrame:
    """Canonical events of ``dataset`` (see :func:`load_dataset`)."""
    return load_dataset(dataset, seed=seed, **options).events
