"""A user's gradient-equivalence tests: the `mirror` fixture, its marker, and plain pytest."""
import numpy as np
import pytest

import compare
from nets import blog_net, blog_net_bug

SPEC = compare.Spec(sizes=[2, 4, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy")


def xor_data():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0.0, 1.0, 1.0, 0.0])


def test_settings_come_from_the_ini_file(mirror):
    assert mirror.settings == {"against": "scratch", "steps": 3}


def test_functions_module_passes(mirror):
    report = mirror.assert_equivalent(blog_net, spec=SPEC, data=xor_data())
    assert report.summary["steps_completed"] == 3 and report.runners == ["mine", "scratch"]


def test_functions_module_with_a_mistake(mirror):
    mirror.assert_equivalent(blog_net_bug, spec=SPEC, data=xor_data())


@pytest.mark.mirror(mode="float32", steps=2)
def test_float32_mode(mirror):
    report = mirror.assert_equivalent(blog_net, spec=SPEC, data=xor_data())
    assert report.config["dtype"] == "float32" and report.summary["steps_completed"] == 2


@pytest.mark.mirror(against="scratch,keras")
def test_against_keras(mirror):
    mirror.assert_equivalent(blog_net, spec=SPEC, data=xor_data())


def test_plain_pytest_without_the_fixture():
    report = compare.assert_equivalent(blog_net.mine, spec=SPEC, against="scratch", steps=2)
    assert report.passed
