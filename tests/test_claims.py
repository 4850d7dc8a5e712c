import re

import numpy as np
import pytest

from helpers.claims import Claim, ClaimError, claim, percent_span, say


def test_claim_fills_the_sentence_when_it_holds():
    said = claim(3.2 < 4.0, "MAE {a:.1f} beats {b:.1f}.", a=3.2, b=4.0)
    assert said == "MAE 3.2 beats 4.0." and isinstance(said, Claim)
    assert said._repr_markdown_() == "MAE 3.2 beats 4.0."


def test_claim_fails_loudly_with_the_sentence_and_the_evidence():
    message = "the narration says 'MAE 5.0 beats 4.0.', but this no longer holds (a=5, b=4)"
    with pytest.raises(ClaimError, match=f"^{re.escape(message)}$"):
        claim(np.float64(5.0) < 4.0, "MAE {a:.1f} beats {b:.1f}.", a=5.0, b=4.0)


def test_claim_accepts_numpy_booleans_and_rejects_arrays():
    assert claim(np.bool_(True), "ok") == "ok"
    with pytest.raises(TypeError, match="one truth value"):
        claim(np.array([True, False]), "ambiguous")


def test_claim_rejects_a_template_with_a_missing_number():
    with pytest.raises(ValueError, match="needs field 'b'"):
        claim(True, "{a} and {b}", a=1)


def test_say_fills_a_report_without_a_check():
    assert say("{n:,} customers", n=18052) == "18,052 customers"
    with pytest.raises(ValueError, match="needs field 'n'"):
        say("{n} customers")


def test_percent_span_collapses_a_single_share():
    assert percent_span([0.4332]) == "43%"
    assert percent_span([0.4332, 0.4349]) == "43%"
    assert percent_span([0.2844, 0.4332]) == "28% to 43%"
    with pytest.raises(ValueError, match="at least one value"):
        percent_span([])
