"""``shopsim``: the embedded default dataset, a generative simulator of an e-commerce shop.

The simulator produces the canonical event log (views, carts, purchases, reviews) of a
population of users **and** each user's true expected future value, so every model in
the study can be compared with the best possible prediction given the latent traits
(the *oracle*). Time is measured in **days**; all rates below are per day.

Generative story
----------------
For each user *i* (independently):

1. **Traits.**

   * purchase rate ``lam_i ~ Gamma(shape=r, rate=alpha)``; a share
     ``browse_only_share`` of users are window shoppers with ``lam_i = 0`` who browse but
     never buy;
   * latent satisfaction ``z_i ~ N(0, 1)``;
   * churn rate ``mu_i = mu0_i * exp(-kappa * z_i)`` with ``mu0_i ~ Gamma(s, beta)``:
     satisfied users live longer. ``kappa`` is **the satisfaction-signal knob** (see
     "How strongly satisfaction drives behaviour" below);
   * spend: each purchase is worth ``Gamma(shape=p, rate=nu_i)`` with
     ``nu_i ~ Gamma(q, gamma)``, so the user's mean spend is ``p / nu_i``;
   * category preferences ``theta_i ~ Dirichlet(category_concentration * popularity)``
     over :data:`CATEGORIES`.

2. **Acquisition and lifetime.** The user is born (first purchase, or first visit for a
   window shopper) at a uniform instant of the calibration period, so every monthly
   cohort exists, and stays alive for an ``Exponential(mu_i)`` time.

3. **Purchases** (Pareto/NBD, Schmittlein, Morrison & Colombo 1987): the first purchase
   at birth, then repeat purchases from an exact Poisson process of rate ``lam_i``
   while alive (given their number, Poisson points are i.i.d. uniform on the window,
   which is how they are drawn). Each purchase has a category from ``theta_i``, an item
   (Zipf-like popularity within the category), a quantity ``1 + Poisson(0.3)`` and an
   amount from the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV:
   Using iso-value curves for customer base analysis"). The heterogeneity of ``lam``
   and ``mu`` is the Pareto/NBD one; BG/NBD (Fader, Hardie & Lee 2005, "Counting your
   customers the easy way") is a close cousin fitted by the baselines. The lognormal
   factor ``exp(-kappa z)`` slightly widens the spread of ``mu`` beyond Gamma(s, beta).

4. **Browsing.** While alive, browsing sessions arrive at rate
   ``session_rate_base + session_rate_per_purchase * lam_i``, each with
   ``1 + Poisson(session_views_mean - 1)`` views a few minutes apart in one category; a
   share ``abandon_cart_prob`` ends with an abandoned cart. Every purchase is preceded
   by a cart (with probability ``cart_before_purchase``) minutes before, a view of the
   purchased item just before that, and ``Poisson(pre_purchase_views_mean)`` further
   views of its category in the ``~pre_purchase_lead_days`` before it, so recent
   browsing intensity signals "alive and about to buy". After death only a small
   trickle of views remains (``dead_session_rate`` sessions a day, no carts, no buys).

5. **Reviews.** Each purchase is experienced on four aspects (delivery, quality, price,
   service): ``e_a = w z_i + sqrt(1 - w^2) eps_a`` with ``w = experience_weight``. A
   review follows with probability ``review_prob * (1 + review_extremity |x|)`` (unhappy
   and delighted buyers write more), ``x`` being the weighted mean experience, about
   ``review_delay_days`` after the purchase and only while the user is alive. Its
   rating cuts ``rating_satisfaction_weight z + rating_experience_weight x + noise`` at
   ``rating_cuts``; its text (:mod:`helpers.data.review_text`) mentions the aspects that
   stood out with a polarity from the aspect's experience, plus openers, fillers and
   closers in the overall tone, negations, contrasts and typos.

How strongly satisfaction drives behaviour (the knob ``kappa``)
-----------------------------------------------------------------
Satisfaction changes behaviour through dropout only: ``kappa`` is the log hazard ratio
of churn per standard deviation of latent satisfaction, so a customer one SD less
satisfied than another (same ``mu0``) churns ``exp(kappa)`` times as fast. ``kappa = 0``
makes reviews carry no value signal at all (satisfaction then moves only ratings and
wording); the default ``kappa = 0.5`` is a hazard ratio of 1.65 per SD. An optional
second channel, ``satisfaction_rate_effect`` (``eta``, 0 by default), also lets
satisfaction raise the purchase rate: ``lam_i = lam0_i exp(eta z_i - eta^2 / 2)``
(mean-preserving), as satisfaction raises later usage in Bolton & Lemon (1999, "A
dynamic model of customers' usage of services: usage as an antecedent and consequence
of satisfaction", *Journal of Marketing Research* 36(2), 171-186). Browsing follows the
purchase rate, so this channel also moves the visit rate.

Evidence for the default's size: in a proportional-hazards model of 22 months of
cellular customers, Bolton (1998, "A dynamic model of the duration of the customer's
relationship with a continuous service provider: the role of satisfaction", *Marketing
Science* 17(1), 45-65) finds satisfaction measured before the decision positively and
significantly related to how long customers stay, with a moderate effect that is
strongest for customers with little experience; Gustafsson, Johnson & Roos (2005, "The
effects of customer satisfaction, relationship commitment dimensions, and triggers on
customer retention", *Journal of Marketing* 69(4), 210-218) likewise find satisfaction
lowers later churn, alongside other drivers of similar size. Neither reports a hazard
ratio per SD of a latent satisfaction in retail, so the default is a *moderate* value
(1.65 per SD), not a measured one. The strong end is Jones & Sasser (1995, "Why
satisfied customers defect", *Harvard Business Review* 73(6), 88-99): Xerox's
"totally satisfied" customers were six times as likely to repurchase within 18 months
as its merely "satisfied" ones, a contrast between two adjacent survey boxes that a
hazard ratio of about ``exp(2) = 7.4`` per SD exceeds. Notebook 06b sweeps ``kappa``
from 0 to 3 to show how much review text is worth across that range.

A stable trait that drives churn shows in behaviour: by the cutoff the dissatisfied have
mostly gone quiet, and the survivors' browsing says they are alive, so even a strong
``kappa`` leaves little for reviews to add (notebook 06b measures it). The optional
*acute* channel ``churn_trigger`` (``tau``, 0 by default: "silent defection") models the
triggers of Gustafsson, Johnson & Roos (2005) and the transaction-specific satisfaction
of Bolton (1998): a purchase whose experience ``x`` (step 5) is bad makes the customer
stop buying, with probability ``1 - exp(-tau max(0, -x))``, from the moment they would
review it; they keep browsing until their ordinary death. Their behaviour then looks
the same until purchases fail to come, while the review of that purchase already says
it. The oracle uses the purchase hazard ``mu + lam q(z)`` with ``q(z)`` the mean trigger
probability of a purchase given ``z`` (exact in expectation, up to the delay between a
purchase and its review), and ``E[N] = 0`` for customers who stopped before the cutoff.
``review_truth`` records the latent experience behind every review (report only). With
``tau = 0`` no extra random number is drawn, so the default world is unchanged.

Common random numbers: every process is drawn on the *potential* window from birth to
the end of the holdout and then cut at death, or, for purchases and their journeys, when
the customer stops buying (a Poisson process restricted to a sub-window is the same
process), so the random stream does not depend on ``mu``. Two
configurations that differ only in ``kappa`` share every trait, potential purchase,
session and review text; only who is still alive to act on them differs. A sweep over
``kappa`` is therefore paired, and its review texts hit the embedding cache.

Ground truth (the oracle, never a feature)
-----------------------------------------
``truth`` holds one row per simulated user with the traits and, given the traits and
whether the user is alive at the end of the cutoff day, the exact holdout expectations
over ``T`` = holdout length in days (memoryless lifetime, Poisson purchases)::

    alive: E[N] = lam/mu (1 - exp(-mu T))
           P(N = 0) = exp(-(lam+mu) T) + mu/(lam+mu) (1 - exp(-(lam+mu) T))
    dead:  E[N] = 0, P(N = 0) = 1
    E[spend] = E[N] * p / nu

The oracle conditions on traits and alive state only. The pre-purchase views of a
purchase made in the first holdout days can fall before the cutoff, so observed
browsing carries a little information about the realised holdout purchases beyond the
oracle; a model may therefore, rarely and marginally, beat it on individual users.

Everything is vectorised (no per-user or per-event Python loop) and driven by one
``numpy.random.Generator`` built from ``seed``: the same config and seed give identical
frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from helpers.data import review_text
from helpers.data.schema import EVENT_COLUMNS

#: Product categories and their overall popularity (Dirichlet base measure).
CATEGORIES: tuple[str, ...] = (
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "books",
    "toys",
    "grocery",
)
CATEGORY_POPULARITY: tuple[float, ...] = (0.18, 0.20, 0.15, 0.12, 0.10, 0.10, 0.08, 0.07)

# Event type codes, in alphabetical order so that sorting by code matches sorting by name.
_TYPES = np.array(["cart", "purchase", "review", "view"], dtype=object)
_CART, _PURCHASE, _REVIEW, _VIEW = 0, 1, 2, 3
_MINUTE = 1.0 / (24 * 60)
_ASPECT_WEIGHTS = np.array([0.2, 0.4, 0.2, 0.2])  # delivery, quality, price, service


@dataclass(frozen=True)
class ShopSimConfig:
    """Size, calendar and generative hyper-parameters of :func:`simulate_shop`.

    Rates are per **day**. Defaults give, for 20,000 users over two years, roughly
    115k purchases, ~0.8M events, a mean spend near $50 and about 64% of the users
    without a holdout purchase.
    """

    n_users: int = 20_000
    start: str = "2023-01-01"  #: first calendar day simulated
    cutoff: str = "2024-06-30"  #: last day of the calibration period (inclusive)
    holdout_end: str = "2024-12-31"  #: last day of the holdout period (inclusive)
    # --- population -----------------------------------------------------------------
    browse_only_share: float = 0.10  #: window shoppers: lam = 0, browse but never buy
    # --- purchase frequency: lam ~ Gamma(r, rate alpha) -------------------------------
    r: float = 0.9
    alpha: float = 45.0  #: mean lam = r/alpha = 0.02/day, about one purchase in 7 weeks
    # --- lifetime: mu = Gamma(s, rate beta) * exp(-kappa z) ---------------------------
    s: float = 0.7
    beta: float = 175.0  #: mean mu0 = s/beta = 0.004/day
    #: the satisfaction-signal knob: log hazard ratio of churn per SD of satisfaction z
    #: (0 = reviews carry no value signal; 0.5 = hazard ratio 1.65, see module notes)
    kappa: float = 0.5
    #: optional second channel: log ratio of the purchase rate lam per SD of z (0 = off;
    #: the factor exp(eta z - eta^2 / 2) keeps the mean rate), used by the sweep
    satisfaction_rate_effect: float = 0.0
    #: optional acute channel, "silent defection" (0 = off, the default): a purchase with
    #: experience x makes the customer stop buying (they still browse) from the moment they
    #: would review it, with probability 1 - exp(-churn_trigger * max(0, -x))
    churn_trigger: float = 0.0
    # --- spend per purchase: Gamma(p, rate nu), nu ~ Gamma(q, rate gamma) --------------
    p: float = 6.0
    q: float = 4.0
    gamma: float = 25.0  #: mean of p/nu = p*gamma/(q-1) = $50
    quantity_extra_mean: float = 0.3  #: quantity = 1 + Poisson(this)
    # --- catalogue ----------------------------------------------------------------------
    category_concentration: float = 2.0  #: Dirichlet concentration of preferences
    n_items_per_category: int = 500
    item_zipf_power: float = 2.5  #: item index = floor(n * u**power): larger = more skewed
    # --- browsing -----------------------------------------------------------------------
    session_rate_base: float = 0.03  #: browsing sessions per day while alive (~monthly) ...
    session_rate_per_purchase: float = 4.0  #: ... plus this times lam (4 visits per purchase)
    session_views_mean: float = 2.0  #: mean views per session (at least 1)
    view_gap_minutes: float = 2.0  #: mean gap between views of a session
    abandon_cart_prob: float = 0.15  #: share of browsing sessions ending in a cart
    cart_before_purchase: float = 0.9  #: share of purchases preceded by a cart
    cart_lead_minutes: float = 15.0  #: mean time from cart to purchase
    pre_purchase_views_mean: float = 1.5  #: extra category views before each purchase
    pre_purchase_lead_days: float = 1.0  #: their mean lead time
    dead_session_rate: float = 0.001  #: trickle of sessions per day after death
    # --- reviews ------------------------------------------------------------------------
    review_prob: float = 0.2  #: base probability of reviewing a purchase
    review_extremity: float = 0.8  #: extra review probability per unit |experience|
    review_delay_days: float = 6.0  #: mean delay from purchase to review
    experience_weight: float = 0.5  #: correlation of aspect experience with z
    rating_satisfaction_weight: float = 0.2
    rating_experience_weight: float = 1.0
    rating_noise: float = 0.7
    rating_cuts: tuple[float, float, float, float] = (-1.4, -1.0, -0.57, 0.14)
    aspect_cuts: tuple[float, float, float, float] = (-1.0, -0.35, 0.35, 1.0)
    aspect_mention_base: float = 0.3  #: probability an unremarkable aspect is mentioned
    text_noise: float = 0.2  #: share of review texts with typos / casing noise

    def to_dict(self) -> dict:
        """Plain dict of all fields (tuples as lists), e.g. for a report or params file."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@dataclass
class ShopSimResult:
    """Simulated events (canonical schema) and per-user ground truth (the oracle)."""

    events: pd.DataFrame
    truth: pd.DataFrame
    #: one row per review event: ``user_id``, ``ts`` and the latent ``experience`` x of
    #: the reviewed purchase (report-only truth, like ``truth``)
    review_truth: pd.DataFrame | None = None


def _categorical(rng: np.random.Generator, probs_cum: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Draw one category per row of ``user`` from the users' cumulative preferences."""
    u = rng.random(len(user))
    out = np.zeros(len(user), dtype=np.int8)
    for k in range(probs_cum.shape[1] - 1):
        out += u > probs_cum[user, k]
    return out


def _str_column(codes: np.ndarray, names: np.ndarray) -> pd.Series:
    """A pandas ``str`` column from integer codes into ``names`` (code < 0 = missing)."""
    indices = pa.array(np.asarray(codes, dtype=np.int64), mask=np.asarray(codes) < 0)
    arr = pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.large_string()))
    return pd.Series(arr.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", np.nan))


def _sessions(
    rng: np.random.Generator,
    user: np.ndarray,
    start_t: np.ndarray,
    n_views: np.ndarray,
    gap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand sessions into views: (user, time, session index) per view."""
    sess = np.repeat(np.arange(len(user)), n_views)
    gaps = rng.exponential(gap, len(sess))
    first = np.concatenate([[0], np.cumsum(n_views)[:-1]])
    gaps[first[n_views > 0]] = 0.0
    cum = np.cumsum(gaps)
    offset = cum - np.repeat(cum[first[n_views > 0]], n_views[n_views > 0])
    return user[sess], start_t[sess] + offset, sess


def simulate_shop(config: ShopSimConfig, seed: int) -> ShopSimResult:
    """Simulate the shop; see the module docstring for the generative story.

    Parameters
    ----------
    config : ShopSimConfig
    seed : int
        Seed of the single ``numpy.random.Generator`` driving everything.

    Returns
    -------
    ShopSimResult
        ``events``: canonical columns (:data:`helpers.data.schema.EVENT_COLUMNS`), ``ts``
        UTC, sorted by ``user_id, ts, event_type``, covering ``start`` to the end of
        ``holdout_end``. ``truth``: one row per user with ``user_id, browse_only, lam,
        mu, satisfaction, mean_spend, birth, death, alive_at_cutoff,
        expected_holdout_purchases, expected_holdout_spend, p_no_purchase_holdout``
        (rates per day; ``death`` is missing for users alive at the end).
    """
    c = config
    rng = np.random.default_rng(seed)
    n = int(c.n_users)
    if n < 1:
        raise ValueError("n_users must be at least 1")
    start, t_cut, t_end = _calendar(c)
    pop = _draw_population(rng, c, n, t_cut, t_end)  # 1. traits, 2. acquisition, lifetime
    buys = _draw_purchases(rng, c, pop)  # 3. purchases

    # ---- 4. browsing -------------------------------------------------------------------
    # Potential events are kept with the time that decides whether they happen (their
    # anchor) and are cut at death only once every draw is made (see ``_cut_at_death``),
    # so that a death triggered by a purchase experience (section 5) cuts them too.
    blocks = _journey_blocks(rng, c, buys)  # (user, t, type, cat, item, ref, anchor t)
    bought = [0, 1, 2]  # blocks that happen only if their purchase does
    blocks += _session_blocks(rng, c, pop)
    trickle = len(blocks)  # the one block kept *after* death
    blocks.append(_trickle_block(rng, c, pop))
    bought.append(len(blocks))  # purchases themselves
    blocks.append(
        (buys.user, buys.t, _PURCHASE, buys.cat, buys.item, np.arange(len(buys.t)), buys.t)
    )

    # ---- 5. reviews, 6. churn triggered by a bad experience (optional) -----------------
    reviews = _draw_reviews(rng, c, pop.z, buys, t_end)
    review_block = len(blocks)
    blocks.append(reviews.block)
    buy_end, trigger_rate, ends = _stop_buying(
        rng, c, pop, buys, reviews, blocks, review_block, bought
    )
    blocks = _cut_at_death(blocks, pop.death, ends, trickle)

    events = _assemble(
        blocks,
        n,
        start,
        t_end,
        buys.amount,
        buys.qty,
        reviews.rating,
        reviews.texts,
        _user_names(n),
        _item_names(c),
    )
    truth = _truth_frame(c, pop, start, t_cut, t_end, buy_end, trigger_rate)
    review_truth = _review_truth_frame(blocks[review_block], reviews, n, start)
    return ShopSimResult(events=events, truth=truth, review_truth=review_truth)


def _calendar(c: ShopSimConfig) -> tuple[pd.Timestamp, float, float]:
    """``start`` and the ends of the calibration period and of the window, in days."""
    start = pd.Timestamp(c.start, tz="UTC")
    t_cut = float((pd.Timestamp(c.cutoff, tz="UTC") - start).days + 1)
    t_end = float((pd.Timestamp(c.holdout_end, tz="UTC") - start).days + 1)
    if not 0 < t_cut < t_end:
        raise ValueError("need start <= cutoff < holdout_end")
    return start, t_cut, t_end


@dataclass
class _Population:
    """Per-user traits, birth and death (sections 1 and 2 of the generative story)."""

    browse_only: np.ndarray
    lam: np.ndarray
    z: np.ndarray
    mu: np.ndarray
    nu: np.ndarray
    mean_spend: np.ndarray
    theta_cum: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    alive_end: np.ndarray
    potential: np.ndarray


def _draw_population(
    rng: np.random.Generator, c: ShopSimConfig, n: int, t_cut: float, t_end: float
) -> _Population:
    """Draw the traits (section 1), birth and lifetime (section 2) of ``n`` users."""
    # ---- 1. traits ---------------------------------------------------------------------
    browse_only = rng.random(n) < c.browse_only_share
    lam = rng.gamma(c.r, 1.0 / c.alpha, n)
    lam[browse_only] = 0.0
    z = rng.standard_normal(n)
    if c.satisfaction_rate_effect:  # mean-preserving lognormal factor (0: off, the default)
        eta = c.satisfaction_rate_effect
        lam = lam * np.exp(eta * z - eta**2 / 2)
    mu = rng.gamma(c.s, 1.0 / c.beta, n) * np.exp(-c.kappa * z)
    nu = rng.gamma(c.q, 1.0 / c.gamma, n)
    mean_spend = c.p / nu
    base = np.asarray(CATEGORY_POPULARITY) / np.sum(CATEGORY_POPULARITY)
    theta = rng.dirichlet(c.category_concentration * base, n)
    theta_cum = np.cumsum(theta, axis=1)

    # ---- 2. acquisition and lifetime -----------------------------------------------------
    birth = rng.uniform(0.0, t_cut, n)
    death = birth + rng.exponential(1.0, n) / mu
    alive_end = np.minimum(death, t_end)
    # Common random numbers: every process below is drawn on the *potential* window
    # [birth, t_end] and then cut at death (a Poisson process restricted to a sub-window
    # is the same process), so array sizes and the random stream do not depend on
    # ``mu``. Two configurations that differ only in ``kappa`` then share every potential
    # purchase, session and review text; only who is alive to act on them changes.
    potential = t_end - birth
    return _Population(
        browse_only=browse_only,
        lam=lam,
        z=z,
        mu=mu,
        nu=nu,
        mean_spend=mean_spend,
        theta_cum=theta_cum,
        birth=birth,
        death=death,
        alive_end=alive_end,
        potential=potential,
    )


@dataclass
class _Purchases:
    """Every potential purchase: user, time, category, item, amount and quantity."""

    user: np.ndarray
    t: np.ndarray
    cat: np.ndarray
    item: np.ndarray
    amount: np.ndarray
    qty: np.ndarray


def _draw_purchases(rng: np.random.Generator, c: ShopSimConfig, pop: _Population) -> _Purchases:
    """Section 3: the first purchase at birth, then a Poisson process on the window."""
    n = len(pop.lam)
    browse_only, birth, potential = pop.browse_only, pop.birth, pop.potential
    n_rep = rng.poisson(pop.lam * potential)
    n_purch = n_rep + (~browse_only)
    p_user = np.repeat(np.arange(n), n_purch)
    first = np.concatenate([[0], np.cumsum(n_purch)[:-1]])
    p_t = birth[p_user] + rng.random(len(p_user)) * potential[p_user]
    p_t[first[~browse_only]] = birth[~browse_only]
    n_p = len(p_user)
    p_cat = _categorical(rng, pop.theta_cum, p_user)
    p_item = _item(rng, c, p_cat)
    p_amount = np.maximum(np.round(rng.gamma(c.p, 1.0 / pop.nu[p_user]), 2), 0.01)
    p_qty = 1 + rng.poisson(c.quantity_extra_mean, n_p)
    return _Purchases(user=p_user, t=p_t, cat=p_cat, item=p_item, amount=p_amount, qty=p_qty)


def _journey_blocks(rng: np.random.Generator, c: ShopSimConfig, p: _Purchases) -> list[tuple]:
    """The cart (optional), item view and category views leading to each purchase.

    Three blocks ``(user, t, type, cat, item, ref, anchor t)``, anchored at the purchase.
    """
    none = np.int64(-1)
    n_p = len(p.t)
    p_user, p_t, p_cat, p_item = p.user, p.t, p.cat, p.item
    has_cart = rng.random(n_p) < c.cart_before_purchase
    cart_t = p_t - rng.exponential(c.cart_lead_minutes * _MINUTE, n_p)
    idx = np.flatnonzero(has_cart)
    blocks = [(p_user[idx], cart_t[idx], _CART, p_cat[idx], p_item[idx], none, p_t[idx])]
    item_view_t = np.where(has_cart, cart_t, p_t) - rng.exponential(3 * _MINUTE, n_p)
    blocks.append((p_user, item_view_t, _VIEW, p_cat, p_item, none, p_t))
    n_pre = rng.poisson(c.pre_purchase_views_mean, n_p)
    pre = np.repeat(np.arange(n_p), n_pre)
    pre_t = item_view_t[pre] - rng.exponential(c.pre_purchase_lead_days, len(pre))
    pre_cat = p_cat[pre]
    pre_item = _item(rng, c, pre_cat)
    blocks.append((p_user[pre], pre_t, _VIEW, pre_cat, pre_item, none, p_t[pre]))
    return blocks


def _session_blocks(rng: np.random.Generator, c: ShopSimConfig, pop: _Population) -> list[tuple]:
    """Browsing sessions while alive (window shoppers: one guaranteed at birth).

    Two blocks, their views and their abandoned carts, anchored at the session start.
    """
    none = np.int64(-1)
    n = len(pop.lam)
    browse_only, birth, potential = pop.browse_only, pop.birth, pop.potential
    rate = c.session_rate_base + c.session_rate_per_purchase * pop.lam
    n_sess = rng.poisson(rate * potential) + browse_only
    s_user = np.repeat(np.arange(n), n_sess)
    s_t = birth[s_user] + rng.random(len(s_user)) * potential[s_user]
    s_first = np.concatenate([[0], np.cumsum(n_sess)[:-1]])
    s_t[s_first[browse_only]] = birth[browse_only]
    s_cat = _categorical(rng, pop.theta_cum, s_user)
    s_views = 1 + rng.poisson(max(c.session_views_mean - 1.0, 0.0), len(s_user))
    v_user, v_t, v_sess = _sessions(rng, s_user, s_t, s_views, c.view_gap_minutes * _MINUTE)
    v_cat = s_cat[v_sess]
    v_item = _item(rng, c, v_cat)
    blocks = [(v_user, v_t, _VIEW, v_cat, v_item, none, s_t[v_sess])]
    last_view = np.cumsum(s_views) - 1
    abandon = np.flatnonzero(rng.random(len(s_user)) < c.abandon_cart_prob)
    lv = last_view[abandon]
    ab_t = v_t[lv] + rng.exponential(3 * _MINUTE, len(lv))
    blocks.append((v_user[lv], ab_t, _CART, v_cat[lv], v_item[lv], none, s_t[abandon]))
    return blocks


def _trickle_block(rng: np.random.Generator, c: ShopSimConfig, pop: _Population) -> tuple:
    """Trickle of views after death (potential sessions over the whole window, kept after it)."""
    n = len(pop.lam)
    n_dead = rng.poisson(c.dead_session_rate * pop.potential)
    d_user = np.repeat(np.arange(n), n_dead)
    d_t = pop.birth[d_user] + rng.random(len(d_user)) * pop.potential[d_user]
    d_views = 1 + rng.poisson(0.5, len(d_user))
    dv_user, dv_t, dv_sess = _sessions(rng, d_user, d_t, d_views, c.view_gap_minutes * _MINUTE)
    dv_cat = _categorical(rng, pop.theta_cum, d_user)[dv_sess]
    dv_item = _item(rng, c, dv_cat)
    return (dv_user, dv_t, _VIEW, dv_cat, dv_item, np.int64(-1), d_t[dv_sess])


@dataclass
class _Reviews:
    """The potential reviews (``candidate`` purchases) and what is drawn for them."""

    x: np.ndarray  #: weighted mean experience of every purchase
    r_t: np.ndarray  #: review time of every purchase
    candidate: np.ndarray  #: purchases reviewed before the end of the window
    user: np.ndarray  #: reviewer of each candidate
    rating: np.ndarray
    texts: np.ndarray
    block: tuple  #: ``(user, t, type, cat, item, ref, anchor t)`` of the reviews

    @property
    def experience(self) -> np.ndarray:
        """Experience ``x`` of each candidate review's purchase."""
        return self.x[self.candidate]


def _draw_reviews(
    rng: np.random.Generator, c: ShopSimConfig, z: np.ndarray, p: _Purchases, t_end: float
) -> _Reviews:
    """Section 5: every potential review (purchase reviewed, review before the end of the
    window) is composed; those written while the user is alive are kept later."""
    n_p = len(p.t)
    w = c.experience_weight
    exp_ = w * z[p.user, None] + np.sqrt(1 - w**2) * rng.standard_normal((n_p, 4))
    x = exp_ @ _ASPECT_WEIGHTS
    p_review = np.clip(c.review_prob * (1 + c.review_extremity * np.abs(x)), 0.0, 0.95)
    r_t = p.t + 1.0 + rng.exponential(c.review_delay_days, n_p)
    candidate = np.flatnonzero((rng.random(n_p) < p_review) & (r_t < t_end))
    n_r = len(candidate)
    r_user = p.user[candidate]
    e_r = exp_[candidate]
    y = (
        c.rating_satisfaction_weight * z[r_user]
        + c.rating_experience_weight * x[candidate]
        + c.rating_noise * rng.standard_normal(n_r)
    )
    rating = 1 + review_text.to_level(y, c.rating_cuts)
    overall = review_text.to_level(y + 0.4 * rng.standard_normal(n_r), c.rating_cuts)
    aspect_level = review_text.to_level(e_r + 0.3 * rng.standard_normal((n_r, 4)), c.aspect_cuts)
    strength = np.minimum(np.abs(e_r), 2.0) / 2.0
    mentioned = rng.random((n_r, 4)) < c.aspect_mention_base + (0.9 - c.aspect_mention_base) * (
        strength
    )
    nothing = ~mentioned.any(axis=1)
    mentioned[np.flatnonzero(nothing), np.argmax(np.abs(e_r[nothing]), axis=1)] = True
    texts = review_text.compose_reviews(aspect_level, mentioned, overall, rng, p_noise=c.text_noise)
    block = (
        r_user,
        r_t[candidate],
        _REVIEW,
        p.cat[candidate],
        p.item[candidate],
        np.arange(n_r),
    ) + (r_t[candidate],)
    return _Reviews(
        x=x, r_t=r_t, candidate=candidate, user=r_user, rating=rating, texts=texts, block=block
    )


def _stop_buying(
    rng: np.random.Generator,
    c: ShopSimConfig,
    pop: _Population,
    p: _Purchases,
    reviews: _Reviews,
    blocks: list[tuple],
    review_block: int,
    bought: list[int],
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Section 6, churn triggered by a bad experience (optional, off by default).

    Returns ``(buy_end, trigger_rate, ends)``: when each user stops buying, the
    purchase hazard it adds, and the end time of each block for :func:`_cut_at_death`.
    With the trigger on, the review block ``blocks[review_block]`` is replaced (in
    place) by the reviews of purchases made before the customer stopped buying.
    """
    alive_end = pop.alive_end
    buy_end = alive_end
    trigger_rate = np.zeros(len(pop.lam))
    if not c.churn_trigger:
        return buy_end, trigger_rate, [alive_end] * len(blocks)
    # a purchase that happens with experience x makes the customer stop buying when
    # they would review it, with probability 1 - exp(-churn_trigger max(0, -x)); they
    # keep browsing until they die (silent defection)
    x, r_t = reviews.x, reviews.r_t
    fires = rng.random(len(p.t)) < -np.expm1(-c.churn_trigger * np.maximum(-x, 0.0))
    fires &= p.t < alive_end[p.user]
    buy_end = alive_end.copy()
    np.minimum.at(buy_end, p.user[fires], r_t[fires] + _MINUTE)
    trigger_rate = pop.lam * _trigger_probability(c, pop.z)
    # the review of a purchase made before the customer stopped buying is still written
    review_bought = p.t[reviews.candidate] < buy_end[reviews.user]
    r = blocks[review_block]
    keep = np.flatnonzero(review_bought)
    blocks[review_block] = (*(a[keep] for a in r[:2]), r[2], *(a[keep] for a in r[3:]))
    ends = [buy_end if b in bought else alive_end for b in range(len(blocks))]
    return buy_end, trigger_rate, ends


def _truth_frame(
    c: ShopSimConfig,
    pop: _Population,
    start: pd.Timestamp,
    t_cut: float,
    t_end: float,
    buy_end: np.ndarray,
    trigger_rate: np.ndarray,
) -> pd.DataFrame:
    """The oracle: traits and exact holdout expectations per user (module docstring)."""
    n = len(pop.lam)
    lam, mu, death = pop.lam, pop.mu, pop.death
    horizon = t_end - t_cut
    alive_cut = death > t_cut
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = mu + trigger_rate if c.churn_trigger else mu
        buying = alive_cut & (buy_end > t_cut) if c.churn_trigger else alive_cut
        e_n = np.where(buying, lam / hazard * -np.expm1(-hazard * horizon), 0.0)
        lm = lam + mu
        p0 = np.exp(-lm * horizon) + mu / lm * -np.expm1(-lm * horizon)
    p0 = np.where(buying, p0, 1.0)
    died = death < t_end
    return pd.DataFrame(
        {
            "user_id": _str_column(np.arange(n), _user_names(n)),
            "browse_only": pop.browse_only,
            "lam": lam,
            "mu": mu,
            "satisfaction": pop.z,
            "mean_spend": pop.mean_spend,
            "birth": _to_ts(start, pop.birth),
            "death": _to_ts(start, np.where(died, death, 0.0)).where(died),
            "alive_at_cutoff": alive_cut,
            "expected_holdout_purchases": e_n,
            "expected_holdout_spend": e_n * pop.mean_spend,
            "p_no_purchase_holdout": p0,
        }
    )


def _review_truth_frame(
    kept: tuple, reviews: _Reviews, n: int, start: pd.Timestamp
) -> pd.DataFrame:
    """``user_id, ts`` and latent ``experience`` of each review kept (block ``kept``)."""
    r_user_kept, r_t_kept, *_, r_ref = kept
    return pd.DataFrame(
        {
            "user_id": _str_column(r_user_kept, _user_names(n)),
            "ts": _to_ts(start, r_t_kept),
            "experience": reviews.experience[r_ref],
        }
    )


def _cut_at_death(
    blocks: list[tuple], death: np.ndarray, ends: list[np.ndarray], after_death: int
) -> list[tuple]:
    """Keep the potential events that happen.

    Each block is ``(user, t, type, cat, item, ref, anchor)``; an event happens when its
    anchor time (the purchase, session or review it belongs to) falls before the user's
    end time in ``ends[block]`` (death, or when they stop buying), or, for block number
    ``after_death`` (the trickle of views), after death.
    Returns ``(user, t, type, cat, item, ref)`` blocks of the events that happen.
    """
    out = []
    for number, (user, t, etype, cat, item, ref, anchor) in enumerate(blocks):
        if number == after_death:
            keep = np.flatnonzero(anchor > death[user])
        else:
            keep = np.flatnonzero(anchor < ends[number][user])
        ref = ref[keep] if np.ndim(ref) else ref
        out.append((user[keep], t[keep], etype, cat[keep], item[keep], ref))
    return out


def _trigger_probability(c: ShopSimConfig, z: np.ndarray) -> np.ndarray:
    """Mean probability that a purchase triggers churn, given satisfaction ``z``.

    The purchase experience is ``x ~ N(m, s^2)`` with ``m = w z sum(a)`` and
    ``s^2 = (1 - w^2) sum(a^2)`` (aspect weights ``a``), so
    ``E[1 - exp(-tau max(0, -x))] = Phi(-m/s) - exp(tau m + tau^2 s^2 / 2) Phi(-(m + tau s^2)/s)``.
    """
    from scipy.stats import norm

    w, tau = c.experience_weight, c.churn_trigger
    m = w * z * _ASPECT_WEIGHTS.sum()
    s = np.sqrt((1 - w**2) * np.sum(_ASPECT_WEIGHTS**2))
    return norm.cdf(-m / s) - np.exp(tau * m + tau**2 * s**2 / 2) * norm.cdf(-(m + tau * s**2) / s)


def _to_ts(start: pd.Timestamp, t: np.ndarray) -> pd.Series:
    """Days since ``start`` to UTC timestamps, floored to the second."""
    sec = np.floor(np.asarray(t) * 86_400).astype(np.int64)
    return pd.Series(pd.to_datetime(start.value + sec * 10**9, unit="ns", utc=True))


def _item(rng: np.random.Generator, c: ShopSimConfig, cat: np.ndarray) -> np.ndarray:
    """Global item index: Zipf-like popularity within the given categories."""
    k = c.n_items_per_category
    j = np.minimum((k * rng.random(len(cat)) ** c.item_zipf_power).astype(np.int64), k - 1)
    return cat.astype(np.int64) * k + j


def _item_names(c: ShopSimConfig) -> np.ndarray:
    k = c.n_items_per_category
    width = max(4, len(str(k - 1)))
    return np.array(
        [f"{cat[:3]}-{j:0{width}d}" for cat in CATEGORIES for j in range(k)], dtype=object
    )


def _user_names(n: int) -> np.ndarray:
    width = max(6, len(str(n - 1)))
    return np.array([f"u{i:0{width}d}" for i in range(n)], dtype=object)


def _assemble(
    blocks: list[tuple],
    n_users: int,
    start: pd.Timestamp,
    t_end: float,
    amount: np.ndarray,
    qty: np.ndarray,
    rating: np.ndarray,
    texts: np.ndarray,
    user_names: np.ndarray,
    item_names: np.ndarray,
) -> pd.DataFrame:
    sizes = [len(b[0]) for b in blocks]
    user = np.concatenate([b[0] for b in blocks]).astype(np.int64)
    t = np.concatenate([b[1] for b in blocks])
    etype = np.concatenate(
        [np.full(m, b[2], dtype=np.int8) for m, b in zip(sizes, blocks, strict=True)]
    )
    cat = np.concatenate([b[3] for b in blocks]).astype(np.int64)
    item = np.concatenate([b[4] for b in blocks]).astype(np.int64)
    ref = np.concatenate([np.broadcast_to(b[5], (m,)) for m, b in zip(sizes, blocks, strict=True)])
    keep = (t >= 0.0) & (t < t_end)
    user, t, etype, cat, item, ref = (a[keep] for a in (user, t, etype, cat, item, ref))
    sec = np.floor(t * 86_400).astype(np.int64)
    # views and carts of one user in the same second on the same item would be duplicates
    n_items = int(item.max()) + 2 if len(item) else 1
    span = (int(np.ceil(t_end * 86_400)) + 1) * 4 * n_items
    if span * n_users < 2**62:  # one int64 sort key: much faster than lexsort
        order = np.argsort(user * span + (sec * 4 + etype) * n_items + item + 1)
    else:
        order = np.lexsort((item, etype, sec, user))
    user, sec, etype, cat, item, ref = (a[order] for a in (user, sec, etype, cat, item, ref))
    dup = np.zeros(len(user), dtype=bool)
    dup[1:] = (
        (user[1:] == user[:-1])
        & (sec[1:] == sec[:-1])
        & (etype[1:] == etype[:-1])
        & (item[1:] == item[:-1])
        & ((etype[1:] == _VIEW) | (etype[1:] == _CART))
    )
    if dup.any():
        user, sec, etype, cat, item, ref = (a[~dup] for a in (user, sec, etype, cat, item, ref))

    is_p = etype == _PURCHASE
    is_r = etype == _REVIEW
    amt = np.full(len(user), np.nan)
    amt[is_p] = amount[ref[is_p]]
    q = np.zeros(len(user), dtype=np.int64)
    q[is_p] = qty[ref[is_p]]
    rt = np.zeros(len(user), dtype=np.int64)
    rt[is_r] = rating[ref[is_r]]
    text_code = np.where(is_r, ref, -1)
    ts = pd.to_datetime(start.value + sec * 10**9, unit="ns", utc=True)
    frame = pd.DataFrame(
        {
            "user_id": _str_column(user, user_names),
            "ts": pd.Series(ts),
            "event_type": _str_column(etype, _TYPES),
            "item_id": _str_column(item, item_names),
            "category": _str_column(cat, np.array(CATEGORIES, dtype=object)),
            "amount": amt,
            "quantity": pd.arrays.IntegerArray(q, ~is_p),
            "text": _str_column(text_code, texts if len(texts) else np.array([""], object)),
            "rating": pd.arrays.IntegerArray(rt, ~is_r),
        }
    )
    return frame[list(EVENT_COLUMNS)]
