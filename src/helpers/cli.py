"""Command-line interface: ``python -m helpers <command> ...``.

Commands
--------
validate
    Load a data file (for ``cdnow`` and ``online_retail``, the built-in copy when no path
    is given) with the chosen loader, print its data-quality report and a short summary
    (users, events by type, date range); exit 0, or 2 with ``error: ...`` on stderr when
    the input is unusable (:class:`~helpers.data.schema.DataError`).

score
    Score today's customers outside Jupyter, with the same code as stage 07
    (:func:`helpers.apply.run.apply_models`): load the dataset (the ``datasets`` block
    of ``params.yaml``), print the same data-quality report as ``validate``, choose the
    model from the study's leaderboard (or ``--model``), and write the scored table
    (CSV or Parquet by the suffix of ``--out``) with its data dictionary beside it.
    Exit 2 with ``error: ...`` when ``--as-of`` is after the data's end, when the data
    hold too little history for the training window, or when the leaderboard is missing
    or stale.

More commands are added by writing ``_add_<name>(subparsers)`` that registers a
subparser with ``set_defaults(func=...)`` and listing it in :data:`_COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.data.loaders import load_cdnow, load_event_file, load_online_retail
from helpers.data.schema import DataError, QualityReport
from helpers.data.summary import format_summary, summarise

DATASETS: tuple[str, ...] = ("events", "online_retail", "cdnow")


def _pairs(text: str) -> dict[str, str]:
    """Parse ``a=b,c=d`` into ``{"a": "b", "c": "d"}`` (argparse type)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE pairs, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _currency(args: argparse.Namespace) -> str | dict[str, Any] | None:
    """The loaders' ``currency`` argument from ``--currency`` and ``--rates``."""
    if args.rates and not args.currency:
        raise DataError("--rates needs --currency BASE (the currency the rates convert to).")
    if args.rates:
        return {"base": args.currency, "rates": args.rates}
    return args.currency


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, QualityReport]:
    if args.dataset == "cdnow":
        return load_cdnow(args.path, as_of=args.as_of)
    guards = {"currency": _currency(args), "allow_implausible_dates": args.allow_implausible_dates}
    if args.dataset == "online_retail":
        return load_online_retail(args.path, as_of=args.as_of, **guards)
    if args.path is None:
        raise DataError(f"dataset '{args.dataset}' needs a PATH.")
    return load_event_file(
        args.path,
        mapping=args.mapping,
        as_of=args.as_of,
        event_type_map=args.event_type_map,
        default_event_type=args.default_event_type,
        ts_unit=args.ts_unit,
        normalise_ids=args.normalise_ids,
        **guards,
    )


def _validate(args: argparse.Namespace) -> int:
    events, report = _load(args)
    summary = summarise(events)
    print(report)
    for key, value in report.notes.items():
        print(f"  note: {key:<31} {value}")
    print(format_summary(summary))
    if args.json is not None:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {**report.to_dict(), "summary": summary}
        out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


def _add_validate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="load a data file, print its data-quality report and a summary",
        description="Load PATH with the chosen loader and print the data-quality report.",
    )
    parser.add_argument(
        "path",
        nargs="?",
        help="data file (optional for cdnow: the copy in lifetimes; for online_retail:"
        " the built-in UCI file)",
    )
    parser.add_argument("--dataset", choices=DATASETS, default="events")
    parser.add_argument(
        "--mapping",
        type=_pairs,
        default=None,
        metavar="CANONICAL=SOURCE,...",
        help="e.g. user_id=customer,ts=order_date,amount=total (events only)",
    )
    parser.add_argument(
        "--event-type-map",
        type=_pairs,
        default=None,
        metavar="LABEL=TYPE,...",
        help="e.g. addtocart=cart,transaction=purchase,cancelled=drop (events only;"
        " LABEL=drop excludes a label, counted as excluded_event_label)",
    )
    parser.add_argument(
        "--default-event-type", default=None, help="event type when the file has none"
    )
    parser.add_argument("--as-of", default=None, help="drop events after this time (UTC)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the report")
    _add_guard_options(parser)
    parser.set_defaults(func=_validate)


def _add_guard_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``validate`` that mirror the dataset params of docs/your_data.md."""
    parser.add_argument(
        "--ts-unit",
        choices=("s", "ms", "us", "ns", "serial_days"),
        default=None,
        help="unit of numeric timestamps (default: inferred from their range; events only)",
    )
    parser.add_argument(
        "--normalise-ids",
        action="store_true",
        help="read ids written as floats of integers ('1.0') as integers (events only)",
    )
    parser.add_argument(
        "--allow-implausible-dates",
        action="store_true",
        help="accept a file whose dates all fall before 1990 or after today",
    )
    parser.add_argument(
        "--currency", default=None, metavar="CODE", help="the file's (or the base) currency"
    )
    parser.add_argument(
        "--rates",
        type=_pairs,
        default=None,
        metavar="CODE=RATE,...",
        help="convert to --currency, e.g. USD=0.92 (units of the base per unit)",
    )


def _score(args: argparse.Namespace) -> int:
    from helpers.apply.cli import score_command

    return score_command(args)


def _add_score(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score today's customers (CLV with interval, churn risk, segment, action)",
        description="Score every customer as of a date with the model the study chose.",
    )
    parser.add_argument("--dataset", required=True, help="shopsim, cdnow, online_retail or events")
    parser.add_argument("--as-of", required=True, help="last day of data to use (YYYY-MM-DD)")
    parser.add_argument("--out", required=True, help="output file, .csv or .parquet")
    parser.add_argument("--path", default=None, help="data file (else the params.yaml one)")
    parser.add_argument("--params", default="params.yaml", help="the study's params.yaml")
    parser.add_argument("--model", default=None, help="override the leaderboard's choice")
    parser.add_argument(
        "--horizon-days", type=int, default=None, help="default: the study's holdout length"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=_score)


_COMMANDS: tuple[Callable[[Any], None], ...] = (_add_validate, _add_score)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m helpers`` argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 unusable input or bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # helpers.apply.scoring.ApplyError and split errors
        if args.command != "score":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
