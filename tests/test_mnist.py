"""The MNIST recipes on the real data: every step agrees, and the test predictions are identical."""
import pytest

import compare
from compare.data import recipes
from compare.engine.check import FLOAT32_RTOL
from compare.engine.run import describe_divergence

pytest.importorskip("torch")
pytest.importorskip("keras")


def run(name, mnist_dir, **changes):
    recipe = recipes.get(name)
    spec = recipe.spec.replace(**changes) if changes else recipe.spec.validate()
    return compare.run(spec, recipe.load(data_dir=str(mnist_dir)), recipe=name)


def assert_float64_agreement(report):
    s = report.summary
    assert s["passed"], describe_divergence(s["first_divergence"] or s["first_nonfinite"])
    for pair in ("torch", "keras", "torch~keras"):
        assert pair in s["judged_pairs"], pair
        assert s["max_rel_err"][pair] <= 1e-9, f"{pair}: {s['max_rel_err'][pair]:.3e}"


def test_main_job_two_epochs(mnist_dir):
    """The README's main job: 938 steps, >= 96 % test accuracy, identical predictions on 10,000 images."""
    report = run("mnist", mnist_dir)
    assert report.summary["steps_completed"] == 938          # 2 epochs x ceil(60000 / 128)
    assert_float64_agreement(report)
    accuracy = report.summary["test_accuracy"]
    assert min(accuracy.values()) >= 0.96, accuracy
    assert len(set(accuracy.values())) == 1, accuracy
    assert report.summary["predictions_identical"]
    assert [e["epoch"] for e in report.epochs] == [1, 2]


def test_mnist_small(mnist_dir):
    report = run("mnist-small", mnist_dir)
    assert report.summary["steps_completed"] == 100
    assert_float64_agreement(report)
    assert report.summary["predictions_identical"]
    assert report.summary["test_accuracy"]["scratch"] > 0.5   # it learns (100 full-batch steps)


def test_mnist_deep_with_dev_set(mnist_dir):
    report = run("mnist-deep", mnist_dir, steps=40)
    assert_float64_agreement(report)
    assert report.summary["predictions_identical"]
    data = recipes.get("mnist-deep").load(data_dir=str(mnist_dir))
    assert len(data.X) == 59000 and len(data.X_test) == 1000


def test_mnist_float32_within_stated_bound(mnist_dir):
    report = run("mnist", mnist_dir, dtype="float32", steps=150)
    s = report.summary
    assert s["passed"], describe_divergence(s["first_divergence"])
    for pair in ("torch", "keras"):
        assert 0 < s["max_rel_err"][pair] <= FLOAT32_RTOL, f"{pair}: {s['max_rel_err'][pair]:.3e}"
