"""The sentences and tables of notebook 06b, filled from the study's results.

:func:`answer` is the notebook's one-line answer; the other builders report one section
each: the variants (a)-(d) on the study's customers (:func:`variants_table`,
:func:`variants_sentence`, :func:`ceiling_sentence`), the candidate blocks
(:func:`candidates_table`, :func:`candidates_sentence`, :func:`embedding_sentence`,
:func:`finetune_sentence`), the sweep (:func:`sweep_table`, :func:`sweep_sentence`,
:func:`best_block_sentence`), the deep model (:func:`deep_table`,
:func:`deep_sentence`) and the appendix: the strongest world's samples
(:func:`samples_sentence`) and the readers (c') and (c'') (:func:`reader_sentences`,
:func:`gap_sentences`). Reading the sweep: :func:`strongest_world`, :func:`gap_split`,
:func:`best_recovery`. Every sentence that compares is checked
(:func:`helpers.claims.claim`, :func:`helpers.claims.either`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.claims import Claim, claim, either, percent_span, say
from helpers.features.text import AUTO_EMBEDDING_DIMS
from helpers.studies.text_signal.blocks import CANDIDATE_LABELS, VARIANTS

#: Ceiling (c) - (a), in Gini points, from which a share of it is worth reading.
MEANINGFUL_CEILING = 0.02


def strongest_world(sweep: pd.DataFrame) -> pd.Series:
    """The scored sweep row with the largest strength ``kappa`` (the first one on ties)."""
    scored = sweep.dropna(subset=["gain_text"]) if "gain_text" in sweep else sweep.iloc[:0]
    if scored.empty:
        raise ValueError("the sweep has no scored world (every row has an error)")
    return scored.loc[scored["kappa"].idxmax()]


def gap_split(row: Mapping[str, float], candidate: str) -> dict[str, float]:
    """Split the gap between a text block and the ceiling (c) of one sweep world.

    With ``gain_<v>`` the Gini gain of variant ``v`` over (a) (:func:`~.sweep.sweep_point`):
    ``gap`` = (c) - block; ``never_carried`` = (c) - (c'), signal the texts never
    carried; ``lost`` = (c') - block, signal the features lose; and, with the perfect
    reader (c''), ``trait`` = (c) - (c''), satisfaction no review reveals, and
    ``unsaid`` = (c'') - (c'), experience the words leave unsaid (or the reader misses).
    The parts add up to ``gap``: ``never_carried + lost`` and ``trait + unsaid + lost``.
    """
    ceiling, reader = row["gain_satisfaction"], row["gain_reader"]
    block = row[f"gain_{candidate}"]
    out = {
        "gap": ceiling - block,
        "never_carried": ceiling - reader,
        "lost": reader - block,
    }
    if "gain_experience" in row and pd.notna(row["gain_experience"]):
        out["trait"] = ceiling - row["gain_experience"]
        out["unsaid"] = row["gain_experience"] - reader
    return {k: float(v) for k, v in out.items()}


def best_recovery(sweep: pd.DataFrame, candidate: str, ceiling: float = 0.02) -> pd.DataFrame:
    """Per sweep world whose ceiling (c) - (a) is at least ``ceiling`` Gini: the best block.

    Returns one row per such world (index as in ``sweep``) with ``kappa``, ``best`` (the
    larger share of (c) recovered by the study's text block and by ``candidate``) and
    ``best_vs_reader`` (the same against (c'), when the sweep has the reader).
    """
    big = sweep[sweep["gain_satisfaction"] >= ceiling]
    out = pd.DataFrame(
        {"kappa": big["kappa"], "best": big[["recovery", f"recovery_{candidate}"]].max(axis=1)}
    )
    against = ["recovery_vs_reader", f"recovery_{candidate}_vs_reader"]
    if set(against) <= set(big.columns):
        out["best_vs_reader"] = big[against].max(axis=1)
    return out


def scored_worlds(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep's rows that were scored (a world too small to fit has an ``error``)."""
    return sweep.dropna(subset=["gain_text"]) if "gain_text" in sweep else sweep.iloc[:0]


def label(candidate: str) -> str:
    """The candidate block's name in sentences (:data:`~.blocks.CANDIDATE_LABELS`)."""
    return CANDIDATE_LABELS.get(candidate, candidate)


# ---- the answer ---------------------------------------------------------------------------


def answer(results: Any) -> Claim:
    """The one-line answer: what review text adds on the default data, and what share of
    the ceiling the study's text features recover in the strongest simulated world,
    against the share the words themselves hold (:class:`~.study.StudyResults`)."""
    if not results.applicable:
        return say("{d}: no simulator truth, so no ceilings for text.", d=results.dataset)
    g = results.metrics["gbdt"]
    default = either(
        bool(g["gain_text_lo"] <= 0 <= g["gain_text_hi"]),
        "On the default data (kappa = {k:.1f}) review text adds no gain to LightGBM that "
        "stands out from noise: {b:+.4f} Gini ({lvl:.0%} interval {lo:+.4f} to {hi:+.4f}).",
        "On the default data (kappa = {k:.1f}) review text changes LightGBM's Gini by "
        "{b:+.4f} ({lvl:.0%} interval {lo:+.4f} to {hi:+.4f}).",
        k=results.metrics["kappa_default"],
        b=g["gain_text"],
        lo=g["gain_text_lo"],
        hi=g["gain_text_hi"],
        lvl=results.settings.sweep.level,
    )
    return Claim(f"{default} {_strongest_share(results)}")


def _strongest_share(results: Any) -> Claim:
    """The strongest world's shares of the ceiling: pooled over samples, else one sample's."""
    pooled = results.metrics.get("replicates")
    if pooled:
        return say(
            "In the strongest simulated world (s = {k:.1f}), pooled over {n:.0f} samples, the "
            "study's text features recover {r:.0%} of the ceiling {ri} while the words "
            "themselves hold {w:.0%} {wi}.",
            k=pooled["kappa"],
            n=pooled["n_samples"],
            r=pooled["recovery_mean"],
            ri=_interval(pooled["recovery_lo"], pooled["recovery_hi"]),
            w=pooled["recovery_reader_mean"],
            wi=_interval(pooled["recovery_reader_lo"], pooled["recovery_reader_hi"]),
        )
    scored = scored_worlds(results.sweep)
    if scored.empty:
        return say("No world of the sweep could be scored (too few customers).")
    top = strongest_world(scored)
    if not top["gain_satisfaction"] > 0 or "recovery_reader" not in top:
        return say(
            "Even in the strongest simulated world (s = {k:.1f}) the ceiling is {c:+.4f} Gini, "
            "not above zero: there is nothing for text to recover.",
            k=top["kappa"],
            c=top["gain_satisfaction"],
        )
    return say(
        "In the strongest simulated world (s = {k:.1f}, one sample of {n:,} customers) the "
        "study's text features recover {r:.0%} of the ceiling {ri} while the words "
        "themselves hold {w:.0%} {wi}.",
        k=top["kappa"],
        n=int(top["n_customers"]),
        r=top["recovery"],
        ri=_interval(top["recovery_lo"], top["recovery_hi"]),
        w=top["recovery_reader"],
        wi=_interval(top["recovery_reader_lo"], top["recovery_reader_hi"]),
    )


def _interval(low: float, high: float) -> str:
    """``"[35%, 51%]"``, or why there is none."""
    if math.isnan(low) or math.isnan(high):
        return "(no interval: the ceiling is too often not above zero)"
    return f"[{low:.0%}, {high:.0%}]"


# ---- 1. the variants on the study's customers -----------------------------------------------


def variants_table(summary: Mapping[str, float]) -> pd.DataFrame:
    """Gini of variants (a)-(d) and their gains over (a) with the interval, one row each."""
    return pd.DataFrame(
        {
            "normalised Gini": [summary[f"gini_{v}"] for v in VARIANTS],
            "gain over (a), Gini": [summary.get(f"gain_{v}", 0.0) for v in VARIANTS],
            "interval low": [summary.get(f"gain_{v}_lo", 0.0) for v in VARIANTS],
            "interval high": [summary.get(f"gain_{v}_hi", 0.0) for v in VARIANTS],
        },
        index=list(VARIANTS.values()),
    ).round(4)


def variants_sentence(g: Mapping[str, float], level: float, model: str = "LightGBM") -> Claim:
    """The ceiling (c) - (a) and the gains of the text features and the star ratings."""
    return say(
        "{m} on {n:,} customers: the true-satisfaction ceiling (c) − (a) is {c:+.4f} Gini "
        "({lvl:.0%} interval {clo:+.4f} to {chi:+.4f}); the text features add {b:+.4f} "
        "({blo:+.4f} to {bhi:+.4f}) and the star ratings {d:+.4f} ({dlo:+.4f} to {dhi:+.4f}).",
        m=model,
        n=g["n_customers"],
        c=g["gain_satisfaction"],
        clo=g["gain_satisfaction_lo"],
        chi=g["gain_satisfaction_hi"],
        b=g["gain_text"],
        blo=g["gain_text_lo"],
        bhi=g["gain_text_hi"],
        d=g["gain_ratings"],
        dlo=g["gain_ratings_lo"],
        dhi=g["gain_ratings_hi"],
        lvl=level,
    )


def ceiling_sentence(g: Mapping[str, float]) -> Claim:
    """Whether the recovery rate (b - a) / (c - a) means anything at this ceiling."""
    ceiling, evidence = g["gain_satisfaction"], {"c": MEANINGFUL_CEILING}
    evidence.update(r=g["recovery"], lo=g["recovery_lo"], hi=g["recovery_hi"])
    if ceiling >= MEANINGFUL_CEILING:
        return claim(
            ceiling >= MEANINGFUL_CEILING,
            "The ceiling is at least {c} Gini, so the recovery rate is meaningful: text "
            "recovers {r:.0%} of it ({lo:.0%} to {hi:.0%}).",
            **evidence,
        )
    return either(
        ceiling > 0,
        "The ceiling is below {c} Gini: at this strength even perfect knowledge of the "
        "reviewers' satisfaction adds little to what their behaviour shows, so the recovery "
        "rate ({r:.2f}, interval {lo:.2f} to {hi:.2f}) is a ratio of two small, noisy "
        "numbers and says little.",
        "The ceiling is not above zero: at this strength perfect knowledge of the reviewers' "
        "satisfaction adds nothing to what their behaviour shows, so there is nothing for "
        "text to recover and the recovery rate is undefined; the gains and their intervals "
        "above are the report.",
        **evidence,
    )


# ---- 2. candidate blocks --------------------------------------------------------------------


def candidates_table(summary: Mapping[str, float], names: Mapping[str, str]) -> pd.DataFrame:
    """Gain over (a) of each block of ``names`` (block -> label), with its interval."""
    return pd.DataFrame(
        {
            "gain over (a), Gini": [summary[f"gain_{k}"] for k in names],
            "interval low": [summary[f"gain_{k}_lo"] for k in names],
            "interval high": [summary[f"gain_{k}_hi"] for k in names],
        },
        index=list(names.values()),
    ).round(4)


def candidates_sentence(summary: Mapping[str, float], names: Mapping[str, str]) -> Claim:
    """Every block's gain over (a) with its interval, and which is largest."""
    best = max(names, key=lambda k: summary[f"gain_{k}"])
    gains = "; ".join(
        f"{name} {summary[f'gain_{k}']:+.4f} ({summary[f'gain_{k}_lo']:+.4f} "
        f"to {summary[f'gain_{k}_hi']:+.4f})"
        for k, name in names.items()
    )
    return claim(
        all(summary[f"gain_{best}"] >= summary[f"gain_{k}"] for k in names),
        "Gain over (a), Gini: {gains}. The largest is the {best}.",
        gains=gains,
        best=names[best],
    )


def embedding_sentence(effect: Mapping[str, float]) -> Claim:
    """What adding the embedding columns to (b) does to LightGBM's Gini (paired)."""
    return either(
        effect["high"] < 0,
        "Adding the {k} embedding columns to (b) changes LightGBM's Gini by {x:+.4f} "
        "({lo:+.4f} to {hi:+.4f}, paired): on this data they cost Gini, which is why "
        "`n_components: auto` leaves them out when the reviews carry ratings.",
        "Adding the {k} embedding columns to (b) changes LightGBM's Gini by {x:+.4f} "
        "({lo:+.4f} to {hi:+.4f}, paired): on this data no cost is shown.",
        k=2 * AUTO_EMBEDDING_DIMS,
        x=effect["difference"],
        lo=effect["low"],
        hi=effect["high"],
    )


def finetune_sentence(tuned: Mapping[str, Any]) -> Claim:
    """The fine-tuning run and what the block read through the tuned encoder adds."""
    return say(
        "Fine-tuned on {dev} ({s} steps, last {l} layers; batch loss {l0:.2f} to {l1:.2f}): "
        "the compact block read through the tuned encoder adds {g:+.4f} Gini over (a) "
        "({lo:+.4f} to {hi:+.4f}), the frozen encoder's {f:+.4f}.",
        dev=tuned["device"],
        s=tuned["steps"],
        l=tuned["n_layers"],
        l0=tuned["loss_first"],
        l1=tuned["loss_last"],
        g=tuned["gain_text_finetuned"],
        lo=tuned["gain_text_finetuned_lo"],
        hi=tuned["gain_text_finetuned_hi"],
        f=tuned["gain_text_compact"],
    )


# ---- 3. the sweep ---------------------------------------------------------------------------


def sweep_table(sweep: pd.DataFrame, candidate: str, readers: bool = False) -> pd.DataFrame:
    """The sweep's gains and shares of the ceiling, one row per world.

    With ``readers``, the columns of the ceilings (c') and (c'') and the shares measured
    against them instead of the blocks' gains.
    """
    columns = ["kappa", "churn_trigger", "n_customers", "n_reviewers", "gain_satisfaction"]
    if readers:
        columns += ["gain_reader", "gain_experience", "recovery_reader", "recovery_experience"]
        columns += ["recovery_vs_reader", f"recovery_{candidate}_vs_reader"]
    else:
        columns += ["gain_text", f"gain_{candidate}", "gain_ratings", "recovery"]
        columns += ["recovery_lo", "recovery_hi", f"recovery_{candidate}"]
    return sweep[[c for c in columns if c in sweep]].round(4)


def sweep_sentence(sweep: pd.DataFrame, candidate: str, level: float) -> Claim:
    """How to read the sweep's figure, with the strongest world's gains."""
    top = strongest_world(sweep)
    return say(
        "How to read it: each point is one simulated world of {n:,} customers, the band its "
        "{lvl:.0%} paired bootstrap interval, in Gini points over (a). At the strongest "
        "signal (s = {k:.1f}: churn hazard ratio {hr:.1f} per SD of satisfaction, churn "
        "trigger {t:.1f}) the ceiling is {c:+.4f} Gini, the study's text block adds {b:+.4f}, "
        "the {cand} {e:+.4f} and star ratings {d:+.4f}.",
        n=int(top["n_customers"]),
        lvl=level,
        k=top["kappa"],
        hr=float(np.exp(top["kappa"])),
        t=top["churn_trigger"],
        c=top["gain_satisfaction"],
        b=top["gain_text"],
        cand=label(candidate),
        e=top.get(f"gain_{candidate}", float("nan")),
        d=top["gain_ratings"],
    )


def best_block_sentence(sweep: pd.DataFrame, candidate: str) -> Claim:
    """The best text block's share of the ceiling where the ceiling is worth reading."""
    big = sweep[sweep["gain_satisfaction"] >= MEANINGFUL_CEILING]
    if big.empty:
        return claim(
            bool((sweep["gain_satisfaction"] < MEANINGFUL_CEILING).all()),
            "At none of the {m} strengths (s {k0:.1f} to {k1:.1f}) does the ceiling reach "
            "{cut} Gini (largest {c:+.4f}): in these worlds the reviewers' behaviour already "
            "shows most of what their satisfaction implies for spend.",
            m=len(sweep),
            k0=sweep["kappa"].min(),
            k1=sweep["kappa"].max(),
            cut=MEANINGFUL_CEILING,
            c=sweep["gain_satisfaction"].max(),
        )
    best = best_recovery(sweep, candidate, MEANINGFUL_CEILING)
    return say(
        "Where the ceiling (c) reaches {cut} Gini ({n} of {m} strengths), the better of the "
        "study's text block and the {cand} recovers {share} of it in the sweep's sample "
        "(one sample; appendix A pools several).",
        cut=MEANINGFUL_CEILING,
        n=len(big),
        m=len(sweep),
        cand=label(candidate),
        share=percent_span(best["best"]),
    )


# ---- 4. the deep model ----------------------------------------------------------------------


def deep_table(summary: Mapping[str, float], fold: int) -> pd.DataFrame:
    """Normalised Gini of the deep model's variants (a)-(d) on one fold."""
    return (
        pd.Series({v: summary[f"gini_{k}"] for k, v in VARIANTS.items()})
        .to_frame(f"normalised Gini, fold {fold}")
        .round(4)
    )


def deep_sentence(summary: Mapping[str, float], fold: int) -> Claim:
    """The deep model's gains over (a) on one fold."""
    return say(
        "Deep model on fold {fold} ({n:,} customers): text adds {b:+.4f} Gini over (a) "
        "({blo:+.4f} to {bhi:+.4f}), true satisfaction {c:+.4f} ({clo:+.4f} to {chi:+.4f}), "
        "star ratings {d:+.4f}.",
        fold=fold,
        n=summary["n_customers"],
        b=summary["gain_text"],
        blo=summary["gain_text_lo"],
        bhi=summary["gain_text_hi"],
        c=summary["gain_satisfaction"],
        clo=summary["gain_satisfaction_lo"],
        chi=summary["gain_satisfaction_hi"],
        d=summary["gain_ratings"],
    )


# ---- appendix: the strongest world's samples, the readers (c') and (c'') ----------------------


def samples_sentence(
    samples: pd.DataFrame, pooled: Mapping[str, float] | None, candidate: str, kappa: float
) -> Claim:
    """The share of the ceiling pooled over the strongest world's samples."""
    if not pooled:
        mean_ceiling = float(samples["gain_satisfaction"].mean())
        return claim(
            mean_ceiling <= 0,
            "Over {n} samples the mean ceiling is {c:+.4f} Gini, not above zero: no share of "
            "it is defined, and the gains above are the report.",
            n=len(samples),
            c=mean_ceiling,
        )
    first = samples.iloc[0]
    return say(
        "At s = {k:.1f}, over {n:.0f} samples of about {m:,} customers: mean ceiling {c:+.4f} "
        "Gini. The study's text block recovers {r:.0%} of it ({lo:.0%} to {hi:.0%}; single "
        "samples {r0:.0%} to {r1:.0%}), the {cand} {e:.0%} ({elo:.0%} to {ehi:.0%}), and the "
        "words, read by the truth-trained reader, hold {w:.0%} ({wlo:.0%} to {whi:.0%}). The "
        "first sample alone, the sweep's point, gave the study's block {f:.0%}.",
        k=kappa,
        n=pooled["n_samples"],
        m=int(samples["n_customers"].mean()),
        c=pooled["ceiling_mean"],
        r=pooled["recovery_mean"],
        lo=pooled["recovery_lo"],
        hi=pooled["recovery_hi"],
        r0=pooled["recovery_min"],
        r1=pooled["recovery_max"],
        cand=label(candidate),
        e=pooled.get(f"recovery_{candidate}_mean", float("nan")),
        elo=pooled.get(f"recovery_{candidate}_lo", float("nan")),
        ehi=pooled.get(f"recovery_{candidate}_hi", float("nan")),
        w=pooled["recovery_reader_mean"],
        wlo=pooled["recovery_reader_lo"],
        whi=pooled["recovery_reader_hi"],
        f=first["gain_text"] / first["gain_satisfaction"],
    )


def reader_sentences(sweep: pd.DataFrame, candidate: str) -> list[Claim]:
    """Per world with a ceiling worth reading: the shares of (c) that (c''), (c') and the
    blocks get; then what the readers get across those worlds."""
    big = sweep[sweep["gain_satisfaction"] >= MEANINGFUL_CEILING]
    out = [_world_shares(row, candidate) for _, row in big.iterrows()]
    if big.empty:
        return out
    best = best_recovery(sweep, candidate, MEANINGFUL_CEILING)
    out.append(
        say(
            "A reader trained on the truth gets {words} of (c) out of the words; of what it "
            "gets, the better text block recovers {of_words}. A perfect reader of the reviews' "
            "experience (c″) would get {perfect} of (c).",
            words=percent_span(big["recovery_reader"]),
            of_words=percent_span(best["best_vs_reader"]),
            perfect=percent_span(big["recovery_experience"]),
        )
    )
    return out


def _world_shares(row: pd.Series, candidate: str) -> Claim:
    return say(
        "s = {k:.1f}: ceiling (c) {c:+.4f} Gini ({clo:+.4f} to {chi:+.4f}). A perfect reader "
        "of the reviews' experience would get {rx:.0%} of it ((c″) {gx:+.4f}, {rxlo:.0%} to "
        "{rxhi:.0%}); the words hold {rr:.0%} ((c′) {g:+.4f}, interval {rrlo:.0%} to "
        "{rrhi:.0%}). The study's text block recovers {r:.0%} of (c) ({lo:.0%} to {hi:.0%}), "
        "the {cand} {re:.0%} ({relo:.0%} to {rehi:.0%}) and star ratings {rd:.0%}. Measured "
        "against what the words hold, the study's text block recovers {rv:.0%} ({rvlo:.0%} "
        "to {rvhi:.0%}).",
        k=row["kappa"],
        c=row["gain_satisfaction"],
        clo=row["gain_satisfaction_lo"],
        chi=row["gain_satisfaction_hi"],
        rx=row["recovery_experience"],
        gx=row["gain_experience"],
        rxlo=row["recovery_experience_lo"],
        rxhi=row["recovery_experience_hi"],
        rr=row["recovery_reader"],
        g=row["gain_reader"],
        rrlo=row["recovery_reader_lo"],
        rrhi=row["recovery_reader_hi"],
        r=row["recovery"],
        lo=row["recovery_lo"],
        hi=row["recovery_hi"],
        cand=label(candidate),
        re=row[f"recovery_{candidate}"],
        relo=row[f"recovery_{candidate}_lo"],
        rehi=row[f"recovery_{candidate}_hi"],
        rd=row["recovery_ratings"],
        rv=row["recovery_vs_reader"],
        rvlo=row["recovery_vs_reader_lo"],
        rvhi=row["recovery_vs_reader_hi"],
    )


def gap_sentences(sweep: pd.DataFrame) -> list[Claim]:
    """The gap between the study's text block and the ceiling in the strongest world, split
    by the readers (:func:`gap_split`)."""
    top = strongest_world(sweep)
    if pd.isna(top.get("gain_reader", np.nan)):
        return []
    parts = gap_split(top, "text")
    out = [
        either(
            bool(parts["never_carried"] > parts["lost"]),
            "Of the gap between the study's text block and the ceiling at s = {k:.1f}, more "
            "is signal the texts never carried ({n:+.4f} Gini, (c) − (c′)) than signal the "
            "features lose ({f:+.4f}, (c′) − block).",
            "Of the gap between the study's text block and the ceiling at s = {k:.1f}, more "
            "is signal the features lose ({f:+.4f} Gini, (c′) − block) than signal the texts "
            "never carried ({n:+.4f}, (c) − (c′)).",
            k=top["kappa"],
            n=parts["never_carried"],
            f=parts["lost"],
        )
    ]
    if "trait" in parts:
        out.append(
            claim(
                math.isclose(
                    sum(parts[k] for k in ("trait", "unsaid", "lost")), parts["gap"], abs_tol=1e-12
                ),
                "That gap ({gap:+.4f} Gini) is satisfaction the reviews never reveal "
                "((c) − (c″), {trait:+.4f}), experience their words leave unsaid or the "
                "reader misses ((c″) − (c′), {unsaid:+.4f}) and signal the features lose "
                "((c′) − block, {lost:+.4f}).",
                **parts,
            )
        )
    return out
