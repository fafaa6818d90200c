"""A user's tests written against framework-mirror 0.1.0, before compare.recipes and compare.bugs
moved to compare.data (unchanged: tests/test_stable_api.py runs it and expects it to pass, with a
DeprecationWarning for each moved module)."""
import compare
from compare import bugs
from compare import recipes
from compare.recipes import Data


def test_a_recipe_runs_and_agrees():
    recipe = recipes.get("toy3")
    data = recipe.load()
    assert isinstance(data, Data) and data.X.shape == (12, 3)
    report = compare.run(recipe.spec.replace(steps=2), data, frameworks=("scratch", "torch"))
    assert report.passed and report.summary["steps_completed"] == 2


def test_the_bug_zoo_is_caught_where_it_says():
    bug = bugs.BUGS["no-batch-mean"]
    recipe = recipes.get(bug.recipe)
    with bugs.inject(bug.name):
        report = compare.run(recipe.spec.replace(steps=1), recipe.load(), frameworks=("scratch", "torch"))
    found = report.summary["first_divergence"]
    assert (found["step"], found["layer"], found["tensor"]) == (bug.expected["step"], bug.expected["layer"],
                                                                bug.expected["tensor"])


def test_assert_equivalent_on_a_spec():
    compare.assert_equivalent(recipes.get("toy3").spec, steps=2, frameworks=("scratch", "torch"))


def test_every_recipe_is_listed():
    recipes.load_plugins()
    assert {"toy3", "parity", "xor"} <= set(recipes.RECIPES)
