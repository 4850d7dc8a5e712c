"""Exploratory summaries of an event log and the figures of notebook 01.

Each ``*_table``/computation function is vectorised (groupby, no per-user loops) and
tested; each ``plot_*`` function draws one seaborn/matplotlib figure and returns it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.data.split import purchase_days

FUNNEL_STEPS: tuple[str, ...] = ("view", "cart", "purchase", "review")


def event_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Events, users and events per user by event type (all four types listed)."""
    grouped = events.groupby("event_type", observed=True)
    table = pd.DataFrame({"events": grouped.size(), "users": grouped["user_id"].nunique()})
    table = table.reindex(list(FUNNEL_STEPS), fill_value=0)
    table["events_per_user"] = table["events"] / table["users"].where(table["users"] > 0)
    return table


def events_per_user(events: pd.DataFrame) -> pd.DataFrame:
    """Long table ``user_id, event_type, events`` (users with ≥1 event of that type)."""
    counts = events.groupby(["user_id", "event_type"], observed=True).size()
    return counts.rename("events").reset_index()


def inter_purchase_days(events: pd.DataFrame) -> pd.Series:
    """Days between consecutive purchase days of the same user (same-day merged)."""
    days = purchase_days(events).sort_values(["user_id", "day"])
    gaps = days.groupby("user_id")["day"].diff().dropna()
    return (gaps / pd.Timedelta(days=1)).astype(float).rename("days_between_purchases")


def cohort_retention(events: pd.DataFrame) -> pd.DataFrame:
    """Share of each monthly acquisition cohort purchasing k months after acquisition.

    Cohort = calendar month of the user's first purchase; cell (cohort, k) = share of
    the cohort's users with a purchase in month cohort + k (k = 0 is 1 by definition);
    months after the last month of the log are missing (NaN), not zero.
    """
    days = purchase_days(events)
    month = days["day"].dt.tz_localize(None).dt.to_period("M")
    first = month.groupby(days["user_id"]).transform("min")
    offset = (month.dt.year - first.dt.year) * 12 + (month.dt.month - first.dt.month)
    active = pd.DataFrame(
        {"cohort": first.astype(str), "offset": offset, "user_id": days["user_id"]}
    )
    active = active.drop_duplicates()
    users = active.groupby(["cohort", "offset"]).size().unstack(fill_value=0)
    share = users.div(users[0], axis=0)
    # months after the end of the log are unobserved, not zero
    last = month.max()
    cohorts = pd.PeriodIndex(share.index, freq="M")
    observable = (last.year - cohorts.year) * 12 + (last.month - cohorts.month)
    return share.where(share.columns.to_numpy()[None, :] <= observable.to_numpy()[:, None])


def funnel_table(events: pd.DataFrame) -> pd.DataFrame:
    """Users reaching each step (view → cart → purchase → review) and step conversion."""
    users = events.groupby("event_type", observed=True)["user_id"].nunique()
    table = pd.DataFrame({"users": users.reindex(list(FUNNEL_STEPS), fill_value=0)})
    previous = table["users"].shift(1)
    table["share_of_previous_step"] = table["users"] / previous.where(previous > 0)
    return table


def example_reviews(events: pd.DataFrame, per_rating: int, seed: int) -> pd.DataFrame:
    """Up to ``per_rating`` random review texts for each rating (seeded)."""
    reviews = events.loc[(events["event_type"] == "review") & events["text"].notna()]
    if reviews.empty:
        return pd.DataFrame(columns=["rating", "text"])
    rng = np.random.default_rng(seed)
    shuffled = reviews.iloc[rng.permutation(len(reviews))]
    picked = shuffled.groupby("rating", observed=True).head(per_rating)
    return picked.sort_values("rating")[["rating", "text"]].reset_index(drop=True)


def plot_events_per_user(events: pd.DataFrame) -> plt.Figure:
    """Distribution of events per user, by event type (log scale)."""
    table = events_per_user(events)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.histplot(
        table, x="events", hue="event_type", log_scale=True, element="step", ax=ax, bins=30
    )
    ax.set(title="Events per user", xlabel="events per user (log scale)", ylabel="users")
    return fig


def plot_inter_purchase(events: pd.DataFrame) -> plt.Figure:
    """Histogram of days between consecutive purchase days."""
    gaps = inter_purchase_days(events)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.histplot(gaps, bins=50, ax=ax)
    if len(gaps):
        ax.axvline(gaps.median(), color="black", ls="--", label=f"median {gaps.median():.0f} d")
        ax.legend()
    ax.set(title="Time between purchases", xlabel="days", ylabel="purchase pairs")
    return fig


def plot_log_spend(events: pd.DataFrame) -> plt.Figure:
    """Distribution of log10 purchase-day spend."""
    days = purchase_days(events)
    spend = days.loc[days["amount"] > 0, "amount"]
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.histplot(np.log10(spend), bins=50, kde=True, ax=ax)
    ax.set(title="Spend per purchase day", xlabel="log10(amount)", ylabel="purchase days")
    return fig


def plot_cohort_retention(events: pd.DataFrame, max_offset: int = 18) -> plt.Figure:
    """Heatmap of monthly cohort retention (share of cohort purchasing in month k)."""
    table = cohort_retention(events)
    table = table.loc[:, [c for c in table.columns if c <= max_offset]]
    fig, ax = plt.subplots(figsize=(11, max(3, 0.3 * len(table) + 1)))
    sns.heatmap(table, cmap="viridis", vmin=0, vmax=table.iloc[:, 1:].max().max(), ax=ax)
    ax.set(title="Monthly cohort retention", xlabel="months since first purchase", ylabel="cohort")
    return fig


def plot_funnel(events: pd.DataFrame) -> plt.Figure:
    """Bar chart of users at each funnel step."""
    table = funnel_table(events).reset_index(names="step")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.barplot(table, x="step", y="users", ax=ax, color="steelblue")
    for i, share in enumerate(table["share_of_previous_step"]):
        if pd.notna(share):
            ax.annotate(f"{share:.0%}", (i, table["users"].iloc[i]), ha="center", va="bottom")
    ax.set(title="Funnel: users reaching each step (share of previous step)", ylabel="users")
    return fig


def plot_ratings(events: pd.DataFrame) -> plt.Figure:
    """Bar chart of review ratings."""
    ratings = events.loc[events["event_type"] == "review", "rating"].dropna().astype(int)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.countplot(x=ratings, order=[1, 2, 3, 4, 5], ax=ax, color="darkorange")
    ax.set(title="Review ratings", xlabel="stars", ylabel="reviews")
    return fig


def plot_shopsim_traits(truth: pd.DataFrame) -> plt.Figure:
    """The simulator's latent traits: purchase rate vs dropout, and satisfaction's effect."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sample = truth.sample(min(len(truth), 3000), random_state=0)
    sns.scatterplot(
        sample, x="lam", y="mu", hue="satisfaction", palette="coolwarm", s=10, ax=axes[0]
    )
    axes[0].set(
        xscale="log",
        yscale="log",
        title="Purchase rate λ vs dropout rate μ (one dot per user)",
        xlabel="λ: purchases per day while alive",
        ylabel="μ: dropout hazard per day",
    )
    satisfaction_band = pd.qcut(truth["satisfaction"], 4, labels=["Q1 (low)", "Q2", "Q3", "Q4"])
    sns.boxplot(
        x=satisfaction_band, y=truth["expected_holdout_spend"] + 1, ax=axes[1], showfliers=False
    )
    axes[1].set(
        yscale="log",
        title="True expected holdout spend by satisfaction quartile",
        xlabel="latent satisfaction",
        ylabel="expected holdout spend + 1 (log)",
    )
    fig.tight_layout()
    return fig


def figure_numbers(events: pd.DataFrame) -> dict[str, float]:
    """The numbers each exploratory figure of notebook 01 is read by (NaN where absent).

    Keys: ``views_per_viewer`` and ``purchase_days_per_buyer`` (medians),
    ``one_time_buyers`` (share of buyers with one purchase day), ``gap_median`` and
    ``gap_p90`` (days between purchase days), ``spend_median`` and ``spend_p90`` (per
    purchase day, currency units), ``retention_m1`` and ``retention_m6`` (mean share of a
    monthly cohort buying 1 and 6 months after its first month, over observed cohorts),
    ``view_to_cart`` and ``cart_to_purchase`` (funnel shares), ``rating_mean`` and
    ``rating_4_5`` (share of reviews with 4 or 5 stars).
    """
    nan = float("nan")
    days = purchase_days(events)
    per_buyer = days.groupby("user_id").size()
    counts = events_per_user(events)
    views = counts.loc[counts["event_type"] == "view", "events"]
    gaps = inter_purchase_days(events)
    spend = days.loc[days["amount"] > 0, "amount"]
    retention = cohort_retention(events)
    funnel = funnel_table(events)["share_of_previous_step"]
    ratings = events.loc[events["event_type"] == "review", "rating"].dropna().astype(float)

    def month(k: int) -> float:
        return float(retention[k].mean()) if k in retention.columns else nan

    return {
        "views_per_viewer": float(views.median()) if len(views) else nan,
        "purchase_days_per_buyer": float(per_buyer.median()) if len(per_buyer) else nan,
        "one_time_buyers": float((per_buyer == 1).mean()) if len(per_buyer) else nan,
        "gap_median": float(gaps.median()) if len(gaps) else nan,
        "gap_p90": float(gaps.quantile(0.9)) if len(gaps) else nan,
        "spend_median": float(spend.median()) if len(spend) else nan,
        "spend_p90": float(spend.quantile(0.9)) if len(spend) else nan,
        "retention_m1": month(1),
        "retention_m6": month(6),
        "view_to_cart": float(funnel.get("cart", nan)),
        "cart_to_purchase": float(funnel.get("purchase", nan)),
        "rating_mean": float(ratings.mean()) if len(ratings) else nan,
        "rating_4_5": float((ratings >= 4).mean()) if len(ratings) else nan,
    }
