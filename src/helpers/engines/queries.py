"""The study's per-customer aggregations, written once as DuckDB-dialect SQL.

Each function returns one SQL text over the prepared view ``ev``
(``user_id, t, et, category, amount``; ``t`` in UTC epoch nanoseconds, ``et`` the
position in :data:`helpers.data.schema.EVENT_TYPES`). Every literal is an integer built
here (no user strings reach the SQL). :class:`helpers.engines.runner.EventQueries`
runs a text on DuckDB as is and on Spark after :func:`helpers.engines.dialect.to_engine`.

* :func:`presence_sql` -- time range of the calibration events, inputs present;
* :func:`behaviour_sql` -- raw aggregates of
  :func:`helpers.features.behaviour.behaviour_features`;
* :func:`targets_sql` -- calibration summary and holdout targets
  (:func:`helpers.engines.targets.make_targets`);
* :func:`btyd_days_sql` -- purchase-day summary behind
  :func:`helpers.models.btyd.btyd_summary`.
"""

from __future__ import annotations

from helpers.data.schema import EVENT_TYPES

NS_PER_DAY: int = 86_400 * 10**9
TREND_DAYS: int = 90
VIEW, CART, PURCHASE, REVIEW = (
    EVENT_TYPES.index(k) for k in ("view", "cart", "purchase", "review")
)


def day_sql(column: str = "t") -> str:
    """UTC day number (days since 1970-01-01) of an epoch-nanosecond column, exact floor."""
    d = NS_PER_DAY
    return f"(({column} - (({column} % {d}) + {d}) % {d}) // {d})"


def presence_sql(as_of: int) -> str:
    """One row: first and last ``t`` before ``as_of`` and whether views, carts, reviews
    and categorised purchases occur there."""
    return f"""
    SELECT min(t) AS first_t, max(t) AS last_t,
        count(*) FILTER (WHERE et = {VIEW}) > 0 AS has_view,
        count(*) FILTER (WHERE et = {CART}) > 0 AS has_cart,
        count(*) FILTER (WHERE et = {REVIEW}) > 0 AS has_review,
        count(*) FILTER (WHERE et = {PURCHASE} AND category IS NOT NULL) > 0 AS has_category
    FROM ev WHERE t < {int(as_of)}
    """


def behaviour_sql(as_of: int, windows: tuple[int, ...]) -> str:
    """Raw per-user aggregates of events strictly before ``as_of`` (epoch ns).

    One row per user with an event before ``as_of``; the conventions are those of
    :mod:`helpers.features.behaviour`. Cart abandonment pairs each cart with the user's
    first purchase at or after it by a window over carts and purchases (``MIN`` over
    the following rows, carts ordered before purchases at the same instant), which
    both engines run (Spark has no ``ASOF JOIN``).
    """
    as_of = int(as_of)
    return f"""
    WITH base AS NOT MATERIALIZED (  -- the only read of the events: strictly before as_of
        SELECT user_id, t, {day_sql()} AS day, et, category, amount
        FROM ev WHERE t < {as_of}
    ),{_purchase_ctes(as_of, windows)},{_event_ctes(as_of, windows)},{_cart_ctes(as_of)}
    SELECT * FROM eagg
    LEFT JOIN pagg USING (user_id)
    LEFT JOIN cagg USING (user_id)
    LEFT JOIN cab USING (user_id)
    """


def _purchase_ctes(as_of: int, windows: tuple[int, ...]) -> str:
    """CTEs ``pday, pgap, pagg`` of :func:`behaviour_sql`: purchase-day aggregates."""
    d = NS_PER_DAY
    t90, t180 = as_of - TREND_DAYS * d, as_of - 2 * TREND_DAYS * d
    pwin = ",\n".join(
        f"count(*) FILTER (WHERE last_t >= {as_of - w * d}) AS purchases_{w}d" for w in windows
    )
    return f"""
    pday AS (           -- one row per (user, UTC purchase day)
        SELECT user_id, day, sum(amount) AS spend, min(t) AS first_t, max(t) AS last_t
        FROM base WHERE et = {PURCHASE} GROUP BY user_id, day
    ),
    pgap AS (
        SELECT *, day - lag(day) OVER (PARTITION BY user_id ORDER BY day) AS gap FROM pday
    ),
    pagg AS (
        SELECT user_id,
            count(*) AS n_purchase_days,
            sum(spend) AS monetary_total,
            min(first_t) AS first_purchase_t,
            max(last_t) AS last_purchase_t,
            avg(gap) AS ipt_mean_days,
            -- sample std from exact integer sums (stddev_samp combines doubles in
            -- thread order, which changes its last bits from run to run)
            CASE WHEN count(gap) > 1 THEN sqrt(greatest(
                CAST(count(gap) * sum(gap * gap) - sum(gap) * sum(gap) AS DOUBLE)
                / (count(gap) * (count(gap) - 1)), 0.0)) END AS ipt_std_days,
            count(*) FILTER (WHERE last_t >= {t90}) AS trend_recent,
            count(*) FILTER (WHERE last_t >= {t180} AND last_t < {t90}) AS trend_before,
            {pwin}
        FROM pgap GROUP BY user_id
    )"""


def _event_ctes(as_of: int, windows: tuple[int, ...]) -> str:
    """CTEs ``eagg, pcat, cagg`` of :func:`behaviour_sql`: event counts and categories."""
    ewin = []
    for w in windows:
        lo = as_of - w * NS_PER_DAY
        ewin.append(f"sum(amount) FILTER (WHERE et = {PURCHASE} AND t >= {lo}) AS spend_{w}d")
        for kind, et in (("views", VIEW), ("carts", CART), ("reviews", REVIEW)):
            ewin.append(f"count(*) FILTER (WHERE et = {et} AND t >= {lo}) AS {kind}_{w}d")
    ewin_sql = ",\n".join(ewin)
    return f"""
    eagg AS (
        SELECT user_id,
            count(*) FILTER (WHERE et = {VIEW}) AS n_views,
            count(*) FILTER (WHERE et = {CART}) AS n_carts,
            count(*) FILTER (WHERE et = {REVIEW}) AS n_reviews,
            max(t) FILTER (WHERE et = {VIEW}) AS last_view_t,
            max(t) FILTER (WHERE et = {CART}) AS last_cart_t,
            {ewin_sql}
        FROM base GROUP BY user_id
    ),
    pcat AS (
        SELECT user_id, category, count(*) AS n FROM base
        WHERE et = {PURCHASE} AND category IS NOT NULL GROUP BY user_id, category
    ),
    cagg AS (
        SELECT user_id, count(*) AS n_categories, max(n) / sum(n) AS top_category_share
        FROM pcat GROUP BY user_id
    )"""


def _cart_ctes(as_of: int) -> str:
    """CTEs ``cp, cnext, cab`` of :func:`behaviour_sql`: cart abandonment."""
    d = NS_PER_DAY
    return f"""
    cp AS (             -- carts (not censored) and purchases, carts first at equal t
        SELECT user_id, t, CASE WHEN et = {CART} THEN 0 ELSE 1 END AS is_purchase
        FROM base WHERE (et = {CART} AND t < {as_of - d}) OR et = {PURCHASE}
    ),
    cnext AS (          -- each cart with the user's first purchase at or after it
        SELECT user_id, t, is_purchase,
            min(CASE WHEN is_purchase = 1 THEN t END) OVER (
                PARTITION BY user_id ORDER BY t, is_purchase
                ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
            ) AS next_purchase_t
        FROM cp
    ),
    cab AS (
        SELECT user_id,
            count(*) AS eligible_carts,
            count(*) FILTER (
                WHERE next_purchase_t IS NULL OR next_purchase_t - t > {d}
            ) AS abandoned_carts
        FROM cnext WHERE is_purchase = 0 GROUP BY user_id
    )"""


def targets_sql(calibration_end: int, holdout_end: int) -> str:
    """Per customer with a calibration purchase: calibration summary and holdout targets.

    Calibration is ``t < calibration_end``, the holdout ``calibration_end <= t <
    holdout_end`` (epoch ns). Purchases are counted in UTC purchase days (a day split by
    the boundary counts once in each period, as when the periods are summarised apart).
    Columns ``user_id, first_day, cal_purchases, cal_spend, holdout_purchases,
    holdout_spend`` (NULL sums where every amount is missing).
    """
    cal_end, hold_end = int(calibration_end), int(holdout_end)
    return f"""
    WITH pday AS (
        SELECT user_id, {day_sql()} AS day, t >= {cal_end} AS in_holdout,
            sum(amount) AS amount
        FROM ev WHERE et = {PURCHASE} AND t < {hold_end}
        GROUP BY user_id, {day_sql()}, t >= {cal_end}
    )
    SELECT user_id,
        min(day) FILTER (WHERE NOT in_holdout) AS first_day,
        count(*) FILTER (WHERE NOT in_holdout) AS cal_purchases,
        sum(amount) FILTER (WHERE NOT in_holdout) AS cal_spend,
        count(*) FILTER (WHERE in_holdout) AS holdout_purchases,
        sum(amount) FILTER (WHERE in_holdout) AS holdout_spend
    FROM pday GROUP BY user_id
    HAVING count(*) FILTER (WHERE NOT in_holdout) > 0
    """


def bad_amount_sql() -> str:
    """Purchases whose amount is missing or negative (at most one example row)."""
    return f"""
    SELECT user_id, t, amount FROM ev
    WHERE et = {PURCHASE} AND (amount IS NULL OR amount < 0)
    ORDER BY user_id, t LIMIT 1
    """


def btyd_days_sql(cutoff_day: int, end_day: int) -> str:
    """Per-user purchase-day summary for the BTYD models (days since 1970-01-01).

    Purchase days ``<= end_day``; calibration days ``<= cutoff_day``. Columns
    ``user_id, first_day`` (NULL when the first purchase is in the holdout),
    ``last_day, n_cal, cal_spend, repeat_value_mean, n_holdout, holdout_value_mean,
    holdout_spend``.
    """
    c, e = int(cutoff_day), int(end_day)
    return f"""
    WITH pday AS (
        SELECT user_id, {day_sql()} AS day, sum(amount) AS amount
        FROM ev WHERE et = {PURCHASE} AND t < {(e + 1) * NS_PER_DAY}
        GROUP BY user_id, {day_sql()}
    ),
    first AS (
        SELECT user_id, min(day) AS first_day FROM pday WHERE day <= {c} GROUP BY user_id
    )
    SELECT p.user_id, f.first_day,
        max(p.day) FILTER (WHERE p.day <= {c}) AS last_day,
        count(*) FILTER (WHERE p.day <= {c}) AS n_cal,
        sum(p.amount) FILTER (WHERE p.day <= {c}) AS cal_spend,
        avg(p.amount) FILTER (WHERE p.day <= {c} AND p.day > f.first_day) AS repeat_value_mean,
        count(*) FILTER (WHERE p.day > {c}) AS n_holdout,
        avg(p.amount) FILTER (WHERE p.day > {c}) AS holdout_value_mean,
        sum(p.amount) FILTER (WHERE p.day > {c}) AS holdout_spend
    FROM pday p LEFT JOIN first f ON p.user_id = f.user_id
    GROUP BY p.user_id, f.first_day
    """
