"""Cost of the stage-05 policies: seconds per 12-month run, as a ratio to "contact nobody".

Builds a synthetic BTYD population (no pipeline data needed), then times one run of each
policy on the same simulator and seed, and the training of each learner. Prints a table
of seconds and ratios against the reference run measured in the same process (so the
ratios hold on a loaded machine too) and, for the rollout, the state-action values it
computed per month (its bounded cost).

Usage: ``python benchmarks/bench_rl.py [--customers 1500] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    OneStepUpliftPolicy,
    OraclePolicy,
    PosteriorMPCPolicy,
    RolloutPolicy,
    TreatmentEffects,
    population_from_btyd,
    run_policy,
    train_agents,
)
from helpers.marketing.planners import FullInformationMyopicPolicy
from helpers.marketing.policies import NobodyPolicy

PARETO = {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def population(n: int, seed: int):
    rng = np.random.default_rng(seed)
    age = rng.uniform(5, 40, n)
    x = rng.poisson(2.0, n).astype(float)
    summ = pd.DataFrame(
        {
            "frequency_cal": x,
            "recency_cal": np.where(x > 0, age * rng.uniform(0.3, 1.0, n), 0.0),
            "T_cal": age,
            "monetary_value_cal": np.where(x > 0, rng.gamma(5, 8, n), 0.0),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="user_id"),
    )
    return population_from_btyd(summ, "pareto", PARETO, GG, seed=seed)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population(2 * args.customers, 0)
    train, test = pop.split(0)
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("mid")
    sim = MarketingSimulator(test, eff, cfg, sm)
    rows = []
    with threadpool_limits(1):
        t0 = time.perf_counter()
        agents = train_agents(
            train, eff, cfg, sm, seed=0, tabular_episodes=60, dqn_episodes=20, safe_check_seeds=0
        )
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
    print(
        f"rollout (lookahead 3, top 60 % candidates): "
        f"{rollout.evaluations / cfg.horizon:,.0f} state-action values per month"
    )


if __name__ == "__main__":
    main()
