"""The README's results block, generated from a run's metrics files (never typed by hand).

The block sits between :data:`START` and :data:`END` in ``README.md``. It holds the top
rows of the leaderboard (the oracle marked as a ceiling), then one line each for the
marketing study's recommendation (stage 05), the text signal (06b) and today's scoring
(07) when their files are present. Its first line says which run it comes from.

``python -m helpers.readme_results reports/metrics --readme README.md`` rewrites the
block in place; without ``--readme`` it prints the block.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

START = "<!-- results:start -->"
END = "<!-- results:end -->"
#: Leaderboard rows shown (the oracle counts as one when it ranks among them).
TOP = 6
#: Datasets that come from the simulator rather than a shop's records.
SIMULATED = frozenset({"shopsim"})
ORACLE = "oracle"
ORACLE_NOTE = "ceiling: the simulator's true expected spend, not a deployable model"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _num(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, "—" when missing or not finite; minus as "−"."""
    return format(value, spec).replace("-", "−") if _finite(value) else "—"


def _pct(value: Any) -> str:
    return f"{_num(100 * value, '.0f')} %" if _finite(value) else "—"


def _dataset(metrics_dir: Path) -> str:
    quality = _load(metrics_dir / "data_quality.json") or {}
    name = str(quality.get("source") or "unknown dataset")
    kind = "simulated data" if name in SIMULATED else "recorded data"
    split = quality.get("notes", {}).get("split", {})
    when = (
        f", calibration to {split['cutoff']}, holdout to {split['holdout_end']}"
        if "cutoff" in split and "holdout_end" in split
        else ""
    )
    return f"`{name}` ({kind}{when})"


def _currency(metrics_dir: Path) -> str:
    quality = _load(metrics_dir / "data_quality.json") or {}
    return str(quality.get("notes", {}).get("currency") or "currency units")


def _cross_fitted(name: str, row: dict[str, Any]) -> bool:
    """A cross-fitted row (trained on other customers' holdout outcomes): never ranked
    here, as in :func:`helpers.evaluation.leaderboard.deployable_rows`."""
    return row.get("protocol") == "cross_fitted" or name.endswith("@cross_fitted")


def _leaderboard(board: dict[str, Any], top: int, currency: str) -> list[str]:
    metric = str(board.get("gap_metric", "gini"))
    rows = {
        name: row
        for name, row in board.items()
        if isinstance(row, dict)
        and _finite(row.get("gini"))
        and row.get("status") != "not fitted"
        and not _cross_fitted(name, row)
    }
    if not rows:
        return ["No model on the leaderboard has a score."]
    order = sorted(rows, key=lambda name: -rows[name]["gini"])
    ranked = order[:top]
    # the best BTYD model closes 0 % of the gap by definition: shown as the reference
    reference = [name for name in order[top:] if rows[name].get("gap_closed") == 0.0][:1]
    lines = [
        f"| # | model | normalised Gini ↑ | MAE ({currency}) ↓ | top-10 % capture ↑ "
        f"| share of the {metric} gap closed (best BTYD → oracle) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for name in ranked + reference:
        row, rank = rows[name], order.index(name) + 1
        label = f"{name} ({ORACLE_NOTE})" if name == ORACLE else name
        label = f"{name} (best BTYD model: the reference)" if name in reference else label
        lines.append(
            f"| {rank} | {label} | {_num(row.get('gini'), '.3f')} | {_num(row.get('mae'), ',.1f')} "
            f"| {_num(row.get('top10_capture'), '.3f')} | {_pct(row.get('gap_closed'))} |"
        )
    return lines


def _rl_line(rl: dict[str, Any]) -> str:
    main = rl.get("main", {})
    name = rl.get("recommended_policy")
    chosen = main.get(name, {}) if name else {}
    parts = [
        f"- **Marketing (05):** recommended policy `{name}`: incremental profit "
        f"{_num(chosen.get('incremental_profit'), '.2f')} per customer "
        f"(95 % interval {_num(chosen.get('ci_lo'), '.2f')} to {_num(chosen.get('ci_hi'), '.2f')})"
        f" over {rl.get('horizon_months', '?')} months, contacting at most "
        f"{_pct(rl.get('budget'))} of customers, '{rl.get('effects', '?')}' treatment effects"
    ]
    heuristic = rl.get("best_heuristic")
    if heuristic in main:
        profit = _num(main[heuristic].get("incremental_profit"), ".2f")
        parts.append(f"; best heuristic `{heuristic}` {profit}")
    if ORACLE in main:
        parts.append(
            f"; the oracle policy (knows the simulator's truth, a ceiling) "
            f"{_num(main[ORACLE].get('incremental_profit'), '.2f')}"
        )
    return "".join(parts) + "."


def _text_line(text: dict[str, Any]) -> str:
    if not text.get("applicable", False):
        return "- **Text (06b):** not applicable to this dataset (simulated data only)."
    gbdt = text.get("gbdt", {})
    level = text.get("level")
    interval = f"{_pct(level)} interval" if _finite(level) else "interval"
    line = (
        "- **Text (06b):** on this run's data the text features change LightGBM's Gini by "
        f"{_num(gbdt.get('gain_text'), '+.4f')} ({interval} "
        f"{_num(gbdt.get('gain_text_lo'), '+.4f')} to {_num(gbdt.get('gain_text_hi'), '+.4f')})"
    )
    rep = text.get("replicates") or {}
    if _finite(rep.get("recovery_mean")):
        line += (
            f"; in the strongest simulated world (κ = {_num(rep.get('kappa'), 'g')}) the text "
            f"block recovers {_pct(rep.get('recovery_mean'))} of the ceiling set by the "
            f"reviewers' true satisfaction ({_pct(rep.get('recovery_lo'))} to "
            f"{_pct(rep.get('recovery_hi'))}, {_num(rep.get('n_samples'), '.0f')} samples)"
        )
        if _finite(rep.get("recovery_reader_mean")):
            line += f", the words themselves hold {_pct(rep.get('recovery_reader_mean'))}"
    return line + "."


def _apply_line(apply: dict[str, Any]) -> str:
    return (
        f"- **Today's customers (07):** {_num(apply.get('customers_scored'), ',.0f')} customers "
        f"scored as of {apply.get('as_of', '?')} with `{apply.get('model', '?')}`; policy "
        f"`{apply.get('policy', '?')}` contacts {_pct(apply.get('contacted_share'))}, expected "
        f"incremental profit {_num(apply.get('expected_incremental_profit_total'), ',.0f')} in "
        f"all; 80 % interval coverage on the backtest "
        f"{_num(apply.get('interval_coverage_80_backtest'), '.3f')}{_churn_clause(apply)}."
    )


def _churn_clause(apply: dict[str, Any]) -> str:
    lists = apply.get("churn_lists") or {}
    ours = lists.get("actionable: P(no purchase) | top 10%")
    naive = lists.get("naive: longest since last purchase | top 10%")
    if not ours or not naive:
        return ""
    return (
        f"; the top 10 % of the actionable churn list is right {_pct(ours.get('precision'))} "
        f"of the time (lift {_num(ours.get('lift'), '.2f')}), the longest-since-last-purchase "
        f"list {_pct(naive.get('precision'))}"
    )


def results_markdown(metrics_dir: Path, source: str | None = None, top: int = TOP) -> str:
    """The results block (without its markers) for the metrics files in ``metrics_dir``.

    ``source`` names where the files come from on the first line (default: the folder).
    """
    metrics_dir = Path(metrics_dir)
    files = [
        name
        for name in ("leaderboard.json", "rl_policy.json", "text_signal.json", "apply.json")
        if (metrics_dir / name).is_file()
    ]
    lines = [
        f"Run on {_dataset(metrics_dir)}; metrics files {', '.join(files) or 'none'} from "
        f"{source or f'`{metrics_dir}`'}. Generated by `python -m helpers.readme_results`.",
        "",
    ]
    board = _load(metrics_dir / "leaderboard.json")
    lines += (
        _leaderboard(board, top, _currency(metrics_dir))
        if board
        else ["No leaderboard in this run."]
    )
    extra = []
    rl = _load(metrics_dir / "rl_policy.json")
    if rl:
        extra.append(_rl_line(rl))
    text = _load(metrics_dir / "text_signal.json")
    if text:
        extra.append(_text_line(text))
    apply = _load(metrics_dir / "apply.json")
    if apply:
        extra.append(_apply_line(apply))
    if extra:
        lines += ["", *extra]
    return "\n".join(lines) + "\n"


BLOCK = re.compile(re.escape(START) + r"\n.*?" + re.escape(END), re.DOTALL)


def replace_block(text: str, block: str) -> str:
    """``text`` with the one results block replaced by ``block`` (markers kept)."""
    found = BLOCK.findall(text)
    if len(found) != 1:
        raise ValueError(
            f"expected exactly one results block ({START} … {END}), found {len(found)}"
        )
    return BLOCK.sub(lambda _: f"{START}\n{block}{END}", text)


def block_of(text: str) -> str:
    """The content between the markers of ``text``'s one results block."""
    found = BLOCK.findall(text)
    if len(found) != 1:
        raise ValueError(
            f"expected exactly one results block ({START} … {END}), found {len(found)}"
        )
    return found[0][len(START) + 1 : -len(END)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_dir", type=Path, help="a run's reports/metrics folder")
    parser.add_argument("--readme", type=Path, help="rewrite this file's block in place")
    parser.add_argument("--source", help="where the files come from (first line)")
    parser.add_argument("--top", type=int, default=TOP, help="leaderboard rows shown")
    args = parser.parse_args(argv)
    block = results_markdown(args.metrics_dir, args.source, args.top)
    if args.readme is None:
        print(block, end="")
        return
    args.readme.write_text(replace_block(args.readme.read_text(), block))
    print(f"rewrote the results block of {args.readme}")


if __name__ == "__main__":
    main()
