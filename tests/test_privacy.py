"""Tests of helpers.privacy: keyed short hashes, the simulator check, hidden text."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from helpers import privacy


def test_keyed_hash_is_hmac_sha256_prefix_and_stable():
    tokens = privacy.keyed_hash(["c1", "c2", "c1"], key="k")
    expected = hmac.new(b"k", b"c1", hashlib.sha256).hexdigest()[:10]
    assert tokens[0] == tokens[2] == expected
    assert tokens[1] != tokens[0] and all(len(t) == 10 for t in tokens)


def test_another_key_gives_other_tokens_and_ids_do_not_show():
    a = privacy.keyed_hash(["17850"], key="shop-a")[0]
    b = privacy.keyed_hash(["17850"], key="shop-b")[0]
    assert a != b and "17850" not in a


def test_bad_key_or_length_is_refused():
    with pytest.raises(ValueError, match="must not be empty"):
        privacy.keyed_hash(["x"], key="")
    with pytest.raises(ValueError, match="between 4 and 64"):
        privacy.keyed_hash(["x"], key="k", length=2)


def test_only_the_simulator_shows_raw_ids_and_text():
    assert privacy.is_simulator("shopsim")
    assert not any(privacy.is_simulator(d) for d in ("cdnow", "online_retail", "events"))
    assert privacy.display_ids(["u1"], "shopsim", "k") == ["u1"]
    assert privacy.display_ids(["u1"], "cdnow", "k") == privacy.keyed_hash(["u1"], "k")
    assert privacy.shown_text("loved it", "shopsim") == "loved it"
    assert privacy.shown_text("loved it", "events") == "[review text hidden: 8 characters]"
    assert privacy.shown_text("loved it", "events", allow_raw_text=True) == "loved it"
    assert privacy.may_show_raw_text("online_retail") is False
