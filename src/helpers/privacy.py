"""Privacy by default in what gets shared: keyed short hashes, no raw review text.

HTML reports are what people pass around. On any dataset other than the simulator
(``shopsim``, whose customers are invented), a report shows a customer as a short
keyed hash of their id instead of the id itself, and shows no raw review text unless
a parameter turns it on. The scored files of stage 07 are for the user's own systems
and keep the join key (the id as the loader produced it); they are not reports.

The hash is HMAC-SHA256 (Bellare, Canetti & Krawczyk 1996; RFC 2104) of the id under a
key, cut to a few hex characters: stable within a report (the same customer always
shows as the same token), not reversible without the key, and not linkable across
reports made with different keys. It is a display pseudonym, not anonymisation: a
reader who knows the key and the candidate ids can recompute it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

__all__ = [
    "SIMULATED_DATASETS",
    "display_ids",
    "is_simulator",
    "keyed_hash",
    "may_show_raw_text",
    "shown_text",
]

#: Datasets whose customers are simulated: their ids and texts may be shown as they are.
SIMULATED_DATASETS: frozenset[str] = frozenset({"shopsim"})
#: Default length of the shown hash (hex characters; 10 = 40 bits).
HASH_LENGTH = 10


def _key_bytes(key: str | bytes) -> bytes:
    data = key.encode() if isinstance(key, str) else bytes(key)
    if not data:
        raise ValueError("the privacy key must not be empty")
    return data


def keyed_hash(ids: Iterable[object], key: str | bytes, length: int = HASH_LENGTH) -> list[str]:
    """Short keyed hash of each id: the first ``length`` hex digits of HMAC-SHA256.

    Parameters
    ----------
    ids : iterable
        Customer ids (converted with ``str``).
    key : str or bytes
        The secret key (non-empty); the same key gives the same token for the same id.
    length : int
        Hex characters kept (4..64).

    Returns
    -------
    list of str
        One token per id, in order.
    """
    if not 4 <= int(length) <= 64:
        raise ValueError(f"length must be between 4 and 64 hex characters, got {length}")
    secret = _key_bytes(key)
    cache: dict[str, str] = {}
    out = []
    for value in ids:
        text = str(value)
        token = cache.get(text)
        if token is None:
            token = hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[: int(length)]
            cache[text] = token
        out.append(token)
    return out


def is_simulator(dataset: str) -> bool:
    """Whether ``dataset`` is simulated (its ids and texts are invented, safe to show)."""
    return dataset in SIMULATED_DATASETS


def may_show_raw_text(dataset: str, allow_raw_text: bool = False) -> bool:
    """Whether a shared report may show raw review text of ``dataset``.

    Always for the simulator; for any other dataset only when ``allow_raw_text`` (a
    parameter the user sets on purpose) is true.
    """
    return is_simulator(dataset) or bool(allow_raw_text)


def display_ids(
    ids: Iterable[object] | pd.Index | pd.Series, dataset: str, key: str | bytes
) -> list[str]:
    """Ids as a shared report should show them: raw on the simulator, else keyed hashes."""
    values = list(ids)
    if is_simulator(dataset):
        return [str(v) for v in values]
    return keyed_hash(values, key)


def shown_text(text: str, dataset: str, allow_raw_text: bool = False) -> str:
    """``text`` itself where :func:`may_show_raw_text`, else a placeholder with its length."""
    if may_show_raw_text(dataset, allow_raw_text):
        return text
    return f"[review text hidden: {len(str(text))} characters]"
