import numpy as np
import pytest

from helpers.claims import Claim, either


def test_either_prints_the_branch_that_holds():
    args = ("MPC wins by {d:.1f}.", "The rule wins by {d:.1f}.")
    assert either(True, *args, d=0.25) == "MPC wins by 0.2."
    said = either(np.float64(1.0) < 0.5, *args, d=-0.5)
    assert said == "The rule wins by -0.5." and isinstance(said, Claim)


def test_either_rejects_what_is_not_one_truth_value():
    with pytest.raises(TypeError, match="one truth value"):
        either(np.array([True, False]), "a", "b")
    with pytest.raises(TypeError, match="one truth value"):
        either(0.7, "a", "b")


def test_either_checks_the_template_of_the_branch_it_prints():
    with pytest.raises(ValueError, match="needs field 'x'"):
        either(False, "fine", "{x} missing")
    assert either(True, "fine", "{x} missing") == "fine"
