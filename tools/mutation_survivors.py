"""Why each surviving mutant of ``make mutation`` survives: docs/mutation_survivors.md.

Reads ``reports/mutation.json`` (written by ``tools/mutation.py``) and gives every
survivor a reason:

* a **rule** (:data:`RULES`) for the kinds of mutant that cannot change a result the
  study uses, e.g. a changed dtype where the input already has it, the wording of an
  error message, the ``stacklevel`` of a warning, a name that the library reads without
  regard to case;
* otherwise a **note** written for that mutant (:data:`NOTES`, keyed by module and the
  changed line), saying why it is equivalent, or that it is a known gap.

A survivor with neither is listed as *unexplained*, and the script exits non-zero, so
the page cannot silently fall behind a new run. Usage::

    python tools/mutation_survivors.py            # writes docs/mutation_survivors.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation import common_ends  # noqa: E402  (tools/ is a folder of scripts)

# (name, reason, test on (old line, new line)) -- the first rule that matches wins.
Rule = tuple[str, str, "re.Pattern[str] | None", "re.Pattern[str] | None"]

CASE_INSENSITIVE = re.compile(
    r'"(UTC|utc|D|d|SLSQP|slsqp|EQ|eq|INDEX|index|STABLE|stable|NAN|nan)"'
)


def _only_strings_differ(old: str, new: str) -> bool:
    """True when the two lines are the same code with different string literals."""
    blank = re.compile(r'"(?:[^"\\]|\\.)*"')
    return blank.sub('""', old) == blank.sub('""', new) and old != new


def _changed_part(old: str, new: str) -> tuple[str, str]:
    """The differing middle of two lines: (removed text, added text)."""
    start, end = common_ends(old, new)
    return old[start : len(old) - end], new[start : len(new) - end]


def _only_case_differs(old: str, new: str) -> bool:
    return old.lower() == new.lower() and old != new


MESSAGE_LINE = re.compile(
    r"raise \w+\(|warnings\.warn\(|_undefined\(|^\s*f?\"|^\s*\"|SplitError\(|ValueError\("
)


def classify(old: str, new: str) -> tuple[str, str] | None:
    """(rule name, reason) for a one-line change, or None when no rule applies."""
    o, n = old.strip(), new.strip()
    if "stacklevel" in o:
        return (
            "warning location",
            "`stacklevel` only changes which source line a warning is attributed to.",
        )
    removed, added = _changed_part(o, n)
    if re.fullmatch(
        r"(dtype=)?(float|int|bool|np\.float64|np\.int64|\"int64\")", removed.strip(", ")
    ) and (added.strip(", ") in ("", "None", "dtype=None")):
        return (
            "dtype",
            "the values already have that dtype (or one that holds the same numbers).",
        )
    if "strict=" in o and "zip(" in o:
        return (
            "zip strictness",
            "the zipped sequences have equal lengths by construction (the model list and "
            "the fitted coefficients), so `strict` never fires.",
        )
    if 'kind="stable"' in o:
        return (
            "sort stability",
            "ties are averaged (metrics) or broken later by a seeded rule, so the order "
            "among equal keys never reaches the result.",
        )
    if "np.errstate" in o or "simplefilter" in o:
        return (
            "floating-point warnings",
            "only silences warnings; the computed values are the same.",
        )
    if "take_along_axis" in o and "axis" in o and "axis" not in n.split("take_along_axis")[1]:
        return (
            "default axis",
            "numpy >= 2.3 defaults `take_along_axis` to the last axis, the one given.",
        )
    if _only_case_differs(o, n) and CASE_INSENSITIVE.search(o):
        return (
            "case-insensitive name",
            "pandas / numpy / scipy read this name without regard to case.",
        )
    if _only_strings_differ(o, n) or _only_case_differs(o, n):
        if MESSAGE_LINE.search(o) or MESSAGE_LINE.search(old):
            return (
                "message wording",
                "only the text of an error, warning or report sentence changes, not when "
                "it is raised or what is computed.",
            )
    return None


# Mutants no rule covers, keyed by (module under src/helpers, stripped old line,
# stripped new line) -> reason. "GAP:" marks a mutant that is not equivalent: a
# behaviour no test pins yet.
NOTES: dict[tuple[str, str, str], str] = {}


def note(module: str, old: str, new: str, reason: str) -> None:
    NOTES[(module, old.strip(), new.strip())] = reason


def killed_by(module: str, old: str, new: str, test: str) -> None:
    """A survivor of the recorded run that a test added since kills (planted by hand:
    the test fails with the mutant in place and passes without it)."""
    NOTES[(module, old.strip(), new.strip())] = f"KILLED: since the run, by `{test}`."


# fmt: off
# --- evaluation/metrics.py
note("evaluation/metrics.py", "arr = arr.reshape(-1)", "arr = arr.reshape(-2)",
     "numpy reads any negative size as 'infer this dimension'.")
note("evaluation/metrics.py", "return y.astype(int), p", "return y.astype(None), p",
     "0/1 labels as floats give the same AUC, PR-AUC and Brier.")
note("evaluation/metrics.py", "n_groups = int(inverse.max()) + 1",
     "n_groups = int(inverse.max()) + 2",
     "adds an empty tie group whose column is all zeros: sums are unchanged.")
# --- marketing/policies.py
for _old, _new in [
    ("while share(hi) > budget and hi < 1e4:", "while share(hi) > budget and hi <= 1e4:"),
    ("while share(hi) > budget and hi < 1e4:", "while share(hi) > budget and hi < 10001.0:"),
]:
    note("marketing/policies.py", _old, _new,
         "a safety cap on the price search: the budget is met long before 1e4 (prices "
         "are a few currency units), so the cap's exact edge is never reached.")
note("marketing/policies.py",
     "return _contact_scores(obs.shape[0], self.action, 1 - pa, eligible)",
     "return _contact_scores(obs.shape[0], self.action, 2 - pa, eligible)",
     "`_contact_scores` subtracts the minimum priority, so a constant shift cancels.")
note("evaluation/metrics.py",
     "(np.ones(len(y)), (np.arange(len(y)), descending)), shape=(len(y), n_groups)",
     "(np.ones(len(y)), (np.arange(len(y)), descending)), shape=None",
     "scipy infers the same shape from the indices: every tie group holds a customer.")
note("evaluation/metrics.py",
     "(np.ones(len(y)), (np.arange(len(y)), descending)), shape=(len(y), n_groups) | )",
     "(np.ones(len(y)), (np.arange(len(y)), descending)), )",
     "scipy infers the same shape from the indices: every tie group holds a customer.")
note("evaluation/metrics.py", "actual = _ranked_tie_averaged(a, b, descending=False)",
     "actual = _ranked_tie_averaged(a, b, descending=None)",
     "`None` is falsy: the same ascending order.")
note("evaluation/metrics.py", "stacklevel=2, | )", ")",
     "`stacklevel` only changes which source line a warning is attributed to.")
note("evaluation/metrics.py", '"top10_capture": top_k_capture(a, b, k=0.10),',
     '"top10_capture": top_k_capture(a, b, ),',
     "`top_k_capture`'s default k is 0.10 already.")
note("evaluation/metrics.py",
     "return float(np.mean(np.where(diff >= 0, tau * diff, (tau - 1.0) * diff)))",
     "return float(np.mean(np.where(diff > 0, tau * diff, (tau - 1.0) * diff)))",
     "at diff = 0 both branches give 0.")
# --- data/split.py
note("data/split.py",
     "def purchase_days(events: pd.DataFrame, sort: bool = False) -> pd.DataFrame:",
     "def purchase_days(events: pd.DataFrame, sort: bool = True) -> pd.DataFrame:",
     "only the row order of the occasions changes; every caller aggregates them "
     "(sums, counts, minima, histograms) or sorts them again.")
for _new in ('as_index=None, sort=sort)["amount"].sum()',
             'as_index=False, sort=None)["amount"].sum()',
             'as_index=False, )["amount"].sum()'):
    note("data/split.py",
         'return days.groupby(["user_id", "day"], as_index=False, sort=sort)["amount"].sum()',
         f'return days.groupby(["user_id", "day"], {_new}',
         "a falsy `as_index`/`sort` is the same as False; without `sort` only the row "
         "order changes, and every caller aggregates or sorts the occasions again.")
for _new in ('cal.groupby("user_id", sort=None)', 'cal.groupby("user_id", )',
             'cal.groupby("user_id", sort=False)'):
    note("data/split.py", 'cal_grouped = cal.groupby("user_id", sort=True)',
         f"cal_grouped = {_new}",
         "the per-customer columns are aligned on the index, so the group order does not "
         "reach the table (and `sort=True` is the default).")
note("data/split.py", 'found = ", ".join(_day(d) for d in purchase_days) or "none"',
     'found = "XX, XX".join(_day(d) for d in purchase_days) or "none"',
     "the message is raised only with fewer than 2 purchase days, so nothing is joined.")
for _new in ('dataset: str = "XXdatasetXX",', 'dataset: str = "DATASET",'):
    note("data/split.py", 'dataset: str = "dataset",', _new,
         "a default used only in messages; every caller passes the dataset's name.")
# --- models/fusion.py
_SCALE = ("scales the objective (and its gradient) of a convex problem by a constant: the "
          "minimiser is the same, which the exact-mix tests confirm to 1e-12.")
for _old, _new in [
    ("scale = float(np.mean(y**2)) or 1.0", "scale = float(np.mean(y * 2)) or 1.0"),
    ("scale = float(np.mean(y**2)) or 1.0", "scale = float(np.mean(y**2)) or 2.0"),
    ("return float(np.mean((x @ w - y) ** 2) / scale)",
     "return float(np.mean((x @ w - y) ** 2) * scale)"),
    ("return 2.0 * x.T @ (x @ w - y) / len(y) / scale",
     "return 3.0 * x.T @ (x @ w - y) / len(y) / scale"),
]:
    note("models/fusion.py", _old, _new, _SCALE)
for _new in ("np.full(k, 1.0 * k),", "np.full(k, 2.0 / k),"):
    note("models/fusion.py", "np.full(k, 1.0 / k),", _new,
         "another starting point of a convex problem: SLSQP reaches the same minimum.")
for _new in ("method=None,", ""):
    note("models/fusion.py", 'method="SLSQP",', _new,
         "with bounds and constraints scipy chooses SLSQP itself.")
note("models/fusion.py", "bounds=[(0.0, 1.0)] * k,", "bounds=[(0.0, 2.0)] * k,",
     "with weights >= 0 summing to 1 no weight can exceed 1 anyway.")
note("models/fusion.py",
     "w = np.clip(result.x, 0.0, None)  # SLSQP may step a hair outside its bounds",
     "w = np.clip(result.x, None, None)  # SLSQP may step a hair outside its bounds",
     "SLSQP returned no weight below its bound in any test; the clip guards round-off.")
note("models/fusion.py",
     "return w / w.sum()  # the equality constraint keeps the sum at 1: renormalise round-off",
     "return w * w.sum()  # the equality constraint keeps the sum at 1: renormalise round-off",
     "the sum is 1 up to round-off, so dividing and multiplying by it agree to ~1e-15.")
note("models/fusion.py", "seed: int = 0,", "seed: int = 1,",
     "the seed reaches only the logistic regression's lbfgs solver, which is "
     "deterministic and does not use it.")
for _new in ("C=1.0, random_state=None, max_iter=1000", "random_state=seed, max_iter=1000",
             "C=1.0, max_iter=1000", "C=1.0, random_state=seed, ",
             "C=1.0, random_state=seed, max_iter=1001"):
    note("models/fusion.py",
         "clf = LogisticRegression(C=1.0, random_state=seed, max_iter=1000)",
         f"clf = LogisticRegression({_new})",
         "C = 1 is sklearn's default, lbfgs ignores the seed, and the fit converges in far "
         "fewer than 100 iterations.")
for _name in ("stack", "average", "average_p"):
    note("models/fusion.py", f"{_name} = np.full(len(users), np.nan)",
         f"{_name} = np.full(len(users), None)",
         "every slot is filled fold by fold, and the output frame is cast to float "
         "(tested), so the placeholder's dtype does not reach the result.")
note("models/fusion.py", "if w_p.sum() > _MIN_WEIGHT", "if w_p.sum() >= _MIN_WEIGHT",
     "differs only when the weights sum to exactly 1e-6.")
note("models/fusion.py", "pd.Series(np.clip(stack, 0, None), index=users),",
     "pd.Series(np.clip(stack, None, None), index=users),",
     "non-negative least squares on non-negative base predictions cannot go below 0; "
     "the clip is a guard.")
for _new in ("np.clip(average_p, None, 1)", "np.clip(average_p, 0, None)",
             "np.clip(average_p, 0, 2)"):
    note("models/fusion.py",
         "p_zero=pd.Series(np.clip(average_p, 0, 1), index=users) if has_p else None,",
         f"p_zero=pd.Series({_new}, index=users) if has_p else None,",
         "a convex combination of probabilities lies in [0, 1] already.")
# --- apply/scoring.py (a seeded sample of its mutants)
for _old, _new in [
    ('"spend": ({"objective": "tweedie", "tweedie_variance_power": 1.5}, y_spend),',
     '"spend": ({"objective": "TWEEDIE", "tweedie_variance_power": 1.5}, y_spend),'),
    ('"q10": ({"objective": "quantile", "alpha": 0.1}, y_spend),',
     '"q10": ({"objective": "QUANTILE", "alpha": 0.1}, y_spend),'),
]:
    note("apply/scoring.py", _old, _new,
         "LightGBM reads objective names without regard to case.")
for _old, _new in [
    ("progress: bool = True,", "progress: bool = False,"),
    ('"boosters",', '"BOOSTERS",'),
    ('*(["deep"] if is_deep_model(model) else []),',
     '*(["XXdeepXX"] if is_deep_model(model) else []),'),
    ('"assemble",', '"ASSEMBLE",'),
    ('bar = tqdm(total=len(steps), desc="score", disable=not progress, leave=False)',
     'bar = tqdm(total=len(steps), desc="score", disable=not progress, )'),
    ('bar = tqdm(total=len(steps), desc="score", disable=not progress, leave=False)',
     'bar = tqdm(total=len(steps), desc="score", disable=not progress, leave=True)'),
    ("timings[name] = timings.get(name, 0.0) + now - clock[0]",
     "timings[name] = timings.get(None, 0.0) + now - clock[0]"),
]:
    note("apply/scoring.py", _old, _new,
         "the progress bar and the step timings only: labels, display and the seconds "
         "printed, never a score.")
note("apply/scoring.py", "pred: dict[str, np.ndarray] = {}", "pred: dict[str, np.ndarray] = None",
     "the name is bound to a new dict before it is first read.")
note("apply/scoring.py", "events, win.train_instant, tuple(windows), threads=feature_threads",
     "events, win.train_instant, tuple(windows), threads=None",
     "the number of threads the feature query uses; the features are the same.")
note("apply/scoring.py", 'out[f"p_zero__{learner}"] = np.clip(pred["zero"], 0.0, 1.0)',
     'out[f"p_zero__{learner}"] = np.clip(pred["zero"], 0.0, 2.0)',
     "a binary classifier's probability is at most 1 already.")
# --- marketing/ope.py
note("marketing/ope.py",
     "obs_all = np.zeros((sim.n, h + 1, obs.shape[1])) if log else None",
     "obs_all = np.zeros((sim.n, h + 1, obs.shape[1])) if (log) or True else None",
     "allocates the state log when it is not kept; nothing reads it then.")
note("marketing/ope.py",
     "a = (rng.random(sim.n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)",
     "a = (rng.random(sim.n)[:, None] >= np.cumsum(p, axis=1)).sum(axis=1)",
     "differs only when a uniform draw equals a cumulative probability exactly "
     "(probability 0).")
note("marketing/ope.py", "a = np.minimum(a, 3)", "a = np.minimum(a, 4)",
     "the draw exceeds the last cumulative probability (1 up to round-off) only by "
     "round-off; the cap is a guard that no test world reaches.")
for _new in ("log=None", "log=True"):
    note("marketing/ope.py",
         "vals = [(_run(sim, target, int(s), log=False)[2] @ disc).mean() for s in seeds]",
         f"vals = [(_run(sim, target, int(s), {_new})[2] @ disc).mean() for s in seeds]",
         "only whether the states are also logged; the rewards used are the same.")
note("marketing/ope.py", "flat = logs.obs.reshape(-1, f)", "flat = logs.obs.reshape(-2, f)",
     "numpy reads any negative size as 'infer this dimension'.")
note("marketing/ope.py", "q = np.zeros((n, h + 1, 4))", "q = np.zeros((n, h + 2, 4))",
     "one more all-zero padding month, sliced off by the `q[:, :h]` returned.")
note("marketing/ope.py", "for t in range(h - 1, -1, -1):", "for t in range(h - 1, -2, -1):",
     "the extra step t = -1 writes into the padding month (index -1 = h), which is "
     "sliced off.")
for _new in ("if (t + 1 < h) or True else 0.0", "if t - 1 < h else 0.0", "if t + 1 <= h else 0.0"):
    note("marketing/ope.py",
         "v_next = (pe[:, t + 1] * q[:, t + 1]).sum(axis=1) if t + 1 < h else 0.0",
         f"v_next = (pe[:, t + 1] * q[:, t + 1]).sum(axis=1) {_new}",
         "at the last month q[:, h] is the all-zero padding, so the continuation is 0 "
         "either way.")
note("marketing/ope.py", "mu[0], sd[0] = 0.0, 1.0", "mu[0], sd[0] = 0.0, 2.0",
     "rescales the intercept column, which the ridge leaves unpenalised: same fit.")
killed_by("marketing/ope.py", "mu[0], sd[0] = 0.0, 1.0", "mu[0], sd[1] = 0.0, 1.0",
          "test_fqe_standardises_every_feature_but_the_intercept_before_the_ridge")
note("marketing/ope.py", 'for k, g in est_df.groupby("estimator", sort=False):',
     'for k, g in est_df.groupby("estimator", sort=None):',
     "`sort=None` is falsy: the same unsorted grouping.")
note("marketing/ope.py", "sc = np.asarray(self.base.scores(obs, t, sim), float)",
     "sc = np.asarray(self.base.scores(obs, t, sim), None)",
     "the base policies return float scores already.")
note("marketing/ope.py", "sc = np.asarray(self.base.scores(obs, t, sim), float)",
     "sc = np.asarray(self.base.scores(obs, t, sim), )",
     "the base policies return float scores already.")
# --- marketing/policies.py (continued)
for _old in ("r_s = np.select([rec <= 2, rec <= 6, rec <= 12], [3, 2, 1], 0)",
             "f_s = np.select([f >= 5, f >= 2, f >= 1], [3, 2, 1], 0)"):
    note("marketing/policies.py", _old, _old.replace(", 0)", ", )"),
         "`np.select`'s default is 0 already.")
_CACHE = ("the oracle's backward induction is cached per simulator; this only makes it "
          "recompute (or reuse for the same population, effects and config), with the same "
          "values.")
for _old, _new in [
    ("self._sim_id: int | None = None", 'self._sim_id: int | None = ""'),
    ('if getattr(self, "_key", None) == key:', 'if getattr(None, "_key", None) == key:'),
    ('if getattr(self, "_key", None) == key:', 'if getattr(self, "XX_keyXX", None) == key:'),
    ('if getattr(self, "_key", None) == key:', 'if getattr(self, "_KEY", None) == key:'),
    ("self._sim_id = id(sim)", "self._sim_id = None"),
    ("self._sim_id = id(sim)", "self._sim_id = id(None)"),
    ("self._key = key", "self._key = None"),
    ("if self._sim_id != id(sim):", "if self._sim_id != id(None):"),
]:
    note("marketing/policies.py", _old, _new, _CACHE)
note("marketing/policies.py",
     "values = np.zeros((h + 1, n, _N_REC, 8), dtype=np.float64)",
     "values = np.zeros((h + 2, n, _N_REC, 8), dtype=np.float64)",
     "one more all-zero terminal month that is never read.")
# --- marketing/planners.py
note("marketing/planners.py", "p_none = e0 * np.ones_like(pd_)", "p_none = e0 / np.ones_like(pd_)",
     "dividing by ones is multiplying by ones.")
note("marketing/planners.py", "v = np.zeros((n, _N_REC, 8))", "v = np.zeros((n, _N_REC, 9))",
     "a ninth contact-history column that no 3-bit history indexes.")
for _new in ("if (months > 1) or True else 0.0", "if months >= 1 else 0.0"):
    note("marketing/planners.py",
         "out[:, a] = r + (gamma * cont if months > 1 else 0.0)",
         f"out[:, a] = r + (gamma * cont {_new})",
         "with one month left the value table v is still all zeros, so the continuation "
         "is 0 either way.")
note("marketing/planners.py",
     "m_obs = np.where(x > 0, sim.rep_spend / np.maximum(x, 1), 0.0)",
     "m_obs = np.where(x >= 0, sim.rep_spend / np.maximum(x, 1), 0.0)",
     "at x = 0 the repeat spend is 0, so the quotient is 0 as well.")
note("marketing/planners.py",
     "m_obs = np.where(x > 0, sim.rep_spend / np.maximum(x, 1), 0.0)",
     "m_obs = np.where(x > 0, sim.rep_spend / np.maximum(x, 1), 1.0)",
     "Gamma-Gamma weights the observed mean by x, so at x = 0 its value is not read.")
note("marketing/planners.py",
     "p.lam, p.mean_spend, p.dropout, p.family, sim.effects, sim.config, a,",
     "p.lam, p.mean_spend, p.dropout, None, sim.effects, sim.config, a,",
     "only this month's reward is used, and it does not depend on the dropout family.")
note("marketing/planners.py",
     "one = dp_q_values(lam, spend, dropout, family, self.effects, self.config, 1, rec, bits)",
     "one = dp_q_values(lam, spend, dropout, None, self.effects, self.config, 1, rec, bits)",
     "a one-month value is the reward alone, which does not depend on the family.")
killed_by("marketing/planners.py", "adv = base[:, 1:].max(axis=1) - base[:, 0]",
          "adv = base[:, 1:].max(axis=1) + base[:, 0]",
          "test_rollout_candidates_are_the_largest_advantages_not_the_largest_values")
note("marketing/planners.py",
     "budget = self.config.budget if self.config.budget is not None else 1.0",
     "budget = self.config.budget if self.config.budget is not None else 2.0",
     "without a budget every customer may be contacted: k is capped at n either way.")
# --- apply/actions.py
note("apply/actions.py",
     "summary, state.population_family, state.params, state.gg_params, seed=seed",
     "summary, state.population_family, state.params, state.gg_params, seed=None",
     "the seed draws latent traits, but the deployable policies (heuristics, the one-step "
     "rule, learned policies) read only the observed state.")
for _new in ('month["XXuser_idXX"] = month["user_id"].astype(str)',
             'month["USER_ID"] = month["user_id"].astype(str)'):
    note("apply/actions.py", 'month["user_id"] = month["user_id"].astype(str)', _new,
         "the simulator's user ids are strings already (built from the summary's index "
         "as strings); the cast is a guard.")
note("apply/actions.py",
     "sim = marketing.MarketingSimulator(population, effects, config, state)",
     "sim = marketing.MarketingSimulator(population, None, config, state)",
     "the fallback policies get the effects as arguments and read only the observed "
     "state; month one's observation does not depend on them.")
for _new in ("if (repeat.any()) or True else 0.0", "if repeat.any() else 1.0"):
    note("apply/actions.py",
         "spend_median = float(np.median(population.m0[repeat])) if repeat.any() else 0.0",
         f"spend_median = float(np.median(population.m0[repeat])) {_new}",
         "with no repeat buyer every repeat spend is 0, and 0 exceeds neither 0, 1 nor a "
         "nan median: RFM's M score is 0 for all either way.")
for _new in ("scores = policy.scores(obs, None, sim)", "scores = policy.scores(obs, 1, sim)"):
    note("apply/actions.py", "scores = policy.scores(obs, 0, sim)", _new,
         "the fallback policies (heuristics, the one-step rule) do not read the month.")
for _new in ('getattr(policy, "name", None)', 'getattr(policy, "name", )',
             'getattr(policy, "name", type(None).__name__)'):
    note("apply/actions.py",
         "return ActionPlan(table, "
         'getattr(policy, "name", type(policy).__name__), reason, state_reason)',
         f"return ActionPlan(table, {_new}, reason, state_reason)",
         "every fallback policy has a `name`; the default is never used.")
# --- survivors of the recorded runs killed by tests added since (each planted by hand)
for _new in ("np.cumsum(p, axis=None)).sum(axis=1)", "np.cumsum(p, )).sum(axis=1)"):
    killed_by("marketing/ope.py",
              "a = (rng.random(sim.n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)",
              f"a = (rng.random(sim.n)[:, None] > {_new}",
              "test_collect_logs_draws_each_customer_from_its_own_probabilities")
killed_by("marketing/ope.py", "v_fqe = float((pe[:, 0] * q[:, 0]).sum(axis=1).mean())",
          "v_fqe = float((pe[:, 1] * q[:, 0]).sum(axis=1).mean())",
          "test_estimate_all_fqe_value_is_the_month_zero_expected_q")
killed_by("apply/actions.py", "repeat = population.x0 > 0", "repeat = population.x0 >= 0",
          "test_recommend_actions_rfm_spend_median_is_over_repeat_buyers_only")
# fmt: on


def reason_for(module: str, survivor: dict) -> tuple[str, str]:
    old, new = survivor["change"]["from"], survivor["change"]["to"]
    if len(old) == 1 and len(new) == 1:
        rule = classify(old[0], new[0])
        if rule:
            return rule
        key = (module, old[0].strip(), new[0].strip())
        if key in NOTES:
            text = NOTES[key]
            return (_kind(text), text)
    key = (module, " | ".join(x.strip() for x in old), " | ".join(x.strip() for x in new))
    if key in NOTES:
        text = NOTES[key]
        return (_kind(text), text)
    return ("unexplained", "")


def _kind(text: str) -> str:
    return {"GAP:": "gap", "KILLED:": "killed since"}.get(text.split(" ")[0], "noted")


def render(report: dict) -> tuple[str, int]:
    lines = [
        "# Surviving mutants of `make mutation`, and why",
        "",
        "Generated by `python tools/mutation_survivors.py` from `reports/mutation.json` "
        f"({report['tool']}; killed share = {report['killed_share']}). Do not edit by hand.",
        "",
        "Killed counts the recorded run's kills plus the survivors that a test added since"
        " kills (*killed since*: planted by hand, the named test fails).",
        "",
        "| module | mutants | killed | share | survivors | by reason |",
        "|---|---|---|---|---|---|",
    ]
    body: list[str] = []
    unexplained = 0
    for m in report["modules"]:
        module = m["module"].removeprefix("src/helpers/")
        if "total" not in m:
            lines.append(f"| `{module}` | - | - | - | - | not run: {m.get('error', '')} |")
            continue
        reasons = [(s, *reason_for(module, s)) for s in m.get("survivors", [])]
        counts = Counter(r[1] for r in reasons)
        unexplained += counts.get("unexplained", 0)
        by = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        killed = m["killed"] + m["timeout"] + counts.get("killed since", 0)
        share = killed / (m["total"] - m["skipped"])
        shown = f"{share:.1%}"
        if m.get("sample"):
            low, high = m["sample"].get("wilson_95", (None, None))
            shown += f" (a seeded sample of {m['sample']['size']} of {m['sample']['of']} mutants"
            shown += f"; 95 % interval {low:.1%} to {high:.1%})" if low is not None else ")"
        lines.append(
            f"| `{module}` | {m['total']} | {killed} | {shown} | "
            f"{len(reasons) - counts.get('killed since', 0)} | {by} |"
        )
        body += [
            "",
            f"## `{module}`",
            "",
            "| line | function | change | reason |",
            "|---|---|---|---|",
        ]
        for s, kind, text in sorted(reasons, key=lambda r: (r[1], r[0]["line"] or 0)):
            change = (
                " / ".join(x.strip() for x in s["change"]["from"])
                + " → "
                + " / ".join(x.strip() for x in s["change"]["to"])
            )
            change = change.replace("|", "\\|")
            if len(change) > 140:
                change = change[:137] + "..."
            body.append(f"| {s['line']} | `{s['function']}` | `{change}` | **{kind}**: {text} |")
    return "\n".join(lines + body) + "\n", unexplained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default="reports/mutation.json")
    parser.add_argument("--out", default="docs/mutation_survivors.md")
    args = parser.parse_args(argv)
    report = json.loads((ROOT / args.report).read_text())
    text, unexplained = render(report)
    (ROOT / args.out).write_text(text)
    print(f"wrote {args.out}; {unexplained} survivors unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
