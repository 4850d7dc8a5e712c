"""Stage 05's settings: one typed object built from the ``rl`` block of ``params.yaml``.

The defaults here are the study's defaults, and equal ``params.yaml`` (a test checks
it); :func:`helpers.marketing.study.run_study` and the learners' trainers take theirs
from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .simulator import MarketingConfig, TreatmentEffects

__all__ = ["MarketingSettings"]


@dataclass(frozen=True)
class MarketingSettings:
    """Every knob of the stage-05 study.

    Attributes
    ----------
    effects : str
        Preset of the assumed treatment effects of the main study
        (:meth:`TreatmentEffects.preset`).
    use_true_traits : bool
        shopsim only: simulate from the true traits instead of the BTYD posterior.
    n_customers : int
        Customers sampled for the study (half train, half test).
    horizon, budget, margin
        Months simulated, share of customers contactable per month, gross margin rate.
    n_eval_seeds : int
        Paired evaluation seeds of the main tables.
    tabular_episodes, dqn_episodes, fqi_episodes, teacher_episodes : int
        Training passes of the learners of the main presets.
    sweep_tabular_episodes, sweep_dqn_episodes : int
        Training passes of the learners of the other effect presets.
    n_curve_seeds : int
        Evaluation seeds of the budget curve, the sweep and the diagnosis (the first
        ``n_curve_seeds`` of the ``n_eval_seeds``).
    ope_customers, ope_truth_seeds : int
        Held-out customers logged for off-policy evaluation, and seeds of their truth.
    validation_seeds : int
        Seeds of the no-action validation against the holdout.
    rollout_lookahead : int
        Months the rollout planner follows the one-step rule.
    safe_check_seeds : int
        Validation seeds of the learners' safety check (0: no check).
    n_jobs : int
        Worker processes (the results do not depend on it).
    budgets : tuple of float
        Budgets of the profit-vs-budget curve.
    sweep : tuple of str
        Effect presets of the sweep.
    full_presets : tuple of str
        Presets besides ``effects`` evaluated in full (both simulators, all seeds).
    diagnose : bool
        Run the experiment on why the bootstrapped learners lose.
    """

    effects: str = "mid"
    use_true_traits: bool = False
    n_customers: int = 3000
    horizon: int = 12
    budget: float = 0.2
    margin: float = 0.4
    n_eval_seeds: int = 10
    tabular_episodes: int = 60
    dqn_episodes: int = 20
    sweep_tabular_episodes: int = 40
    sweep_dqn_episodes: int = 10
    n_curve_seeds: int = 5
    ope_customers: int = 1000
    ope_truth_seeds: int = 4
    validation_seeds: int = 20
    fqi_episodes: int = 6
    teacher_episodes: int = 4
    rollout_lookahead: int = 3
    safe_check_seeds: int = 8
    n_jobs: int = 2
    budgets: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 1.0)
    sweep: tuple[str, ...] = ("none", "low", "mid", "high", "carryover_off")
    full_presets: tuple[str, ...] = ("high",)
    diagnose: bool = True

    def __post_init__(self) -> None:
        for name in (*self.sweep, *self.full_presets, self.effects):
            TreatmentEffects.preset(name)  # an unknown preset fails here, not in a worker
        if self.n_curve_seeds > self.n_eval_seeds:
            raise ValueError(
                f"rl.n_curve_seeds ({self.n_curve_seeds}) cannot exceed rl.n_eval_seeds "
                f"({self.n_eval_seeds}): the curve seeds are the first evaluation seeds"
            )
        _ = self.config  # validates horizon, budget and margin

    @classmethod
    def from_params(cls, rl: Mapping[str, Any]) -> MarketingSettings:
        """The settings of ``params.yaml``'s ``rl`` block; a key not given keeps its default.

        Raises
        ------
        ValueError
            For a key that is not a setting, naming it and the known ones.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(rl) - known)
        if unknown:
            raise ValueError(f"unknown rl settings {unknown}; known: {sorted(known)}")
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in rl.items()}
        return cls(**given)

    @property
    def config(self) -> MarketingConfig:
        """The economics of the decision problem (horizon, budget, margin; other costs default)."""
        return MarketingConfig(horizon=self.horizon, budget=self.budget, margin=self.margin)

    @property
    def treatment_effects(self) -> TreatmentEffects:
        """The main preset's treatment effects."""
        return TreatmentEffects.preset(self.effects)

    @property
    def presets(self) -> list[str]:
        """Every effect preset the study trains learners for, the main one first."""
        return list(dict.fromkeys([self.effects, *self.full_presets, *self.sweep]))
