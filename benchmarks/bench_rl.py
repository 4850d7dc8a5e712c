"""Cost of the stage-05 policies: seconds per 12-month run, as a ratio to "contact nobody".

Builds a synthetic BTYD population (no pipeline data needed), then times one run of each
policy on the same simulator and seed, and the training of each learner. Prints a table
of seconds and ratios against the reference run measured in the same process (so the
ratios hold on a loaded machine too) and, for the rollout, the state-action values it
computed per month (its bounded cost).

With ``--study`` it instead runs the whole stage-05 study (:func:`run_study`) with the
``rl`` block of ``params.yaml`` on a synthetic population of ``rl.n_customers`` customers
and prints where the time goes: wall seconds per section (each measured inside its
worker process), the study's wall time and the CPU seconds of this process and its
workers (user + sys), with the load average before and after.

Usage: ``python benchmarks/bench_rl.py [--customers 1500] [--repeats 3]``
       ``python benchmarks/bench_rl.py --study [--n-jobs 2]``

The figures go to ``--json`` (default ``benchmarks/results/rl.json``, with ``--study``
``benchmarks/results/rl_study.json``) with how they were taken.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _results import Recorder
from threadpoolctl import threadpool_limits

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingSettings,
    MarketingSimulator,
    MarketingWorld,
    OneStepUpliftPolicy,
    OraclePolicy,
    PosteriorMPCPolicy,
    RolloutPolicy,
    TreatmentEffects,
    population_from_btyd,
    run_policy,
    run_study,
    train_agents,
)
from helpers.marketing.planners import FullInformationMyopicPolicy
from helpers.marketing.policies import NobodyPolicy

PARETO = {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
BGNBD = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}


def population(n: int, seed: int):
    return population_from_btyd(pop_summary(n, seed), "pareto", PARETO, GG, seed=seed)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cpu_seconds() -> float:
    """User + sys CPU seconds of this process and its finished children."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def study(n_jobs: int | None, recorder: Recorder) -> None:
    """The whole study with the ``rl`` params: per-section seconds, wall and CPU."""
    import yaml

    rl = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["rl"]
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population(rl["n_customers"], 42)
    train, test = pop.split(42)
    alt = population_from_btyd(pop_summary(rl["n_customers"], 42), "bgnbd", BGNBD, GG, seed=43)
    _, alt_test = alt.split(42)
    print(f"load before: {os.getloadavg()}")
    t0, c0 = time.perf_counter(), cpu_seconds()
    settings = MarketingSettings.from_params({**rl, "n_jobs": n_jobs or rl["n_jobs"]})
    res = run_study(train, test, alt_test, sm, settings, seed=42)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    sections = pd.Series(res.timings).drop("total").sort_values(ascending=False)
    print(sections.round(1).rename("seconds (inside the workers)").to_string())
    print(f"sum of sections: {sections.sum():.1f} s")
    print(f"study wall: {wall:.1f} s; CPU (user+sys, with workers): {cpu:.1f} s")
    print(f"load after: {os.getloadavg()}")
    top = sections.head(3)
    recorder.write(
        f"stage 05's study on {rl['n_customers']:,} synthetic customers, "
        f"{n_jobs or rl['n_jobs']} worker processes: {wall:.1f} s wall, {cpu:.1f} CPU-seconds; "
        "longest sections " + ", ".join(f"{k} {v:.1f} s" for k, v in top.items()),
        {
            "customers": rl["n_customers"],
            "n_jobs": n_jobs or rl["n_jobs"],
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "sections_s": {k: round(float(v), 2) for k, v in sections.items()},
        },
    )


def pop_summary(n: int, seed: int) -> pd.DataFrame:
    """The synthetic calibration summary behind :func:`population`."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(5, 40, n)
    x = rng.poisson(2.0, n).astype(float)
    return pd.DataFrame(
        {
            "frequency_cal": x,
            "recency_cal": np.where(x > 0, age * rng.uniform(0.3, 1.0, n), 0.0),
            "T_cal": age,
            "monetary_value_cal": np.where(x > 0, rng.gamma(5, 8, n), 0.0),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="user_id"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--study", action="store_true", help="time the whole study instead")
    ap.add_argument("--n-jobs", type=int, default=None, help="worker processes (--study)")
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the figures and how they were taken (default rl.json, "
        "with --study rl_study.json, in benchmarks/results/)",
    )
    args = ap.parse_args()
    recorder = Recorder("rl_study" if args.study else "rl", args)
    if args.study:
        study(args.n_jobs, recorder)
        return
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population(2 * args.customers, 0)
    train, test = pop.split(0)
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("mid")
    sim = MarketingSimulator(test, eff, cfg, sm)
    rows = []
    with threadpool_limits(1):
        t0 = time.perf_counter()
        agents = train_agents(MarketingWorld(train, eff, cfg, sm), 0, 60, 20, safe_check_seeds=0)
        total_train = time.perf_counter() - t0
        policies = {
            "nobody": NobodyPolicy(),
            "one_step_uplift": OneStepUpliftPolicy(eff, cfg),
            "full_info_myopic": FullInformationMyopicPolicy(),
            "posterior_mpc": PosteriorMPCPolicy(eff, cfg, sm),
            "rollout": RolloutPolicy(eff, cfg, sm, lookahead=3),
            "oracle": OraclePolicy(),
            **agents,
        }
        ref = best_of(lambda: run_policy(sim, policies["nobody"], 1), args.repeats)
        for name, pol in policies.items():
            sec = best_of(lambda pol=pol: run_policy(sim, pol, 1), args.repeats)
            rows.append(
                {
                    "policy": name,
                    "seconds_per_run": sec,
                    "ratio_to_nobody": sec / ref,
                    "train_seconds": getattr(pol, "train_seconds", 0.0),
                }
            )
    table = pd.DataFrame(rows)
    rollout = policies["rollout"]
    rollout.evaluations = 0
    run_policy(sim, rollout, 2)
    print(f"customers per run: {len(test):,}; horizon {cfg.horizon} months; load {os.getloadavg()}")
    print(table.round(3).to_string(index=False))
    print(f"training all learners: {total_train:.1f} s")
    per_month = rollout.evaluations / cfg.horizon
    print(
        f"rollout (lookahead 3, top 60 % candidates): "
        f"{per_month:,.0f} state-action values per month"
    )
    slowest = table.sort_values("ratio_to_nobody").iloc[-1]
    recorder.write(
        f"{len(test):,} customers, {cfg.horizon} months per run: contacting nobody "
        f"{ref:.3f} s per run; the slowest policy, {slowest['policy']}, "
        f"{slowest['ratio_to_nobody']:.1f}x that; training all learners {total_train:.1f} s",
        {
            "customers_per_run": len(test),
            "horizon_months": cfg.horizon,
            "nobody_s_per_run": round(ref, 4),
            "training_all_learners_s": round(total_train, 2),
            "rollout_values_per_month": round(per_month),
            "rows": table.round(4).to_dict("records"),
        },
    )


if __name__ == "__main__":
    main()
