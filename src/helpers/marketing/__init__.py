"""Stage 05: marketing policy optimisation with reinforcement learning.

* :mod:`.simulator` -- calibrated customer population, treatment-effect assumptions,
  vectorised monthly MDP, budget allocator, gymnasium wrapper, no-action validation,
  and :class:`MarketingWorld` (population, effects, economics and state model as one);
* :mod:`.settings` -- :class:`MarketingSettings`, the study's knobs from ``params.yaml``;
* :mod:`.policies` -- marketer heuristics and the dynamic-programming oracle;
* :mod:`.agents` -- tabular Q-learning / SARSA and a DQN (torch);
* :mod:`.fqi` -- fitted Q-iteration with gradient-boosted trees;
* :mod:`.planners` -- full-information myopic rule, posterior MPC, rollout;
* :mod:`.recommend` -- this month's action per customer from a chosen policy;
* :mod:`.study` -- paired-seed evaluation, budget curves, sweep, :func:`run_study`;
* :mod:`.worlds` -- :class:`StudyWorlds`, the study's customers and simulators;
* :mod:`.summary`, :mod:`.narration` -- notebook 05's tables and the sentences reading them;
* :mod:`.ope` -- off-policy evaluation (PDIS, WPDIS, DR, FQE) against the true values.
"""

from .agents import DQNAgent, TabularAgent, train_dqn, train_tabular
from .fqi import FQIAgent, train_fqi
from .ope import SoftenedPolicy, ope_table
from .planners import FullInformationMyopicPolicy, PosteriorMPCPolicy, RolloutPolicy
from .policies import OneStepUpliftPolicy, OraclePolicy, fit_oracle_price, heuristic_policies
from .settings import MarketingSettings
from .simulator import (
    ACTIONS,
    FEATURES,
    BTYDStateModel,
    MarketingConfig,
    MarketingEnv,
    MarketingSimulator,
    MarketingWorld,
    Population,
    TreatmentEffects,
    allocate,
    choose_state_model,
    population_from_btyd,
    population_from_truth,
    run_policy,
    simulate_no_action,
)
from .study import (
    PLANNERS,
    REFERENCES,
    RL_AGENTS,
    StudyResult,
    best_heuristic,
    budget_curve,
    dedupe_policies,
    evaluate_policies,
    evaluate_raw_agents,
    evaluation_seeds,
    gap_split,
    oracle_gap_share,
    policy_months,
    policy_table,
    raw_agent_results,
    recommended_policy_name,
    run_study,
    safe_improvement_check,
    safety_table,
    study_policies,
    train_agents,
    unswitched,
)

__all__ = [
    "FQIAgent",
    "FullInformationMyopicPolicy",
    "PLANNERS",
    "PosteriorMPCPolicy",
    "REFERENCES",
    "RL_AGENTS",
    "RolloutPolicy",
    "dedupe_policies",
    "gap_split",
    "recommended_policy_name",
    "study_policies",
    "train_fqi",
    "ACTIONS",
    "FEATURES",
    "BTYDStateModel",
    "DQNAgent",
    "MarketingConfig",
    "MarketingEnv",
    "MarketingSimulator",
    "MarketingSettings",
    "MarketingWorld",
    "OneStepUpliftPolicy",
    "OraclePolicy",
    "Population",
    "SoftenedPolicy",
    "StudyResult",
    "best_heuristic",
    "evaluate_raw_agents",
    "raw_agent_results",
    "safety_table",
    "unswitched",
    "evaluation_seeds",
    "TabularAgent",
    "TreatmentEffects",
    "allocate",
    "choose_state_model",
    "budget_curve",
    "evaluate_policies",
    "fit_oracle_price",
    "oracle_gap_share",
    "heuristic_policies",
    "ope_table",
    "policy_months",
    "policy_table",
    "population_from_btyd",
    "population_from_truth",
    "run_policy",
    "run_study",
    "safe_improvement_check",
    "simulate_no_action",
    "train_agents",
    "train_dqn",
    "train_tabular",
]

from . import recommend
from .worlds import StudyWorlds

__all__ += ["recommend", "StudyWorlds"]
