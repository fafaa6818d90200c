"""Shared fixtures. The real MNIST files: $FRAMEWORK_MIRROR_MNIST, else ../shared/data/mnist
beside the checkout (where CI puts them)."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")   # as every run of compare imports TensorFlow (compare/engine/frameworks.py)

REPO = Path(__file__).resolve().parent.parent
collect_ignore = ["user_project"]      # a user's project, run by tests/test_pytest_plugin.py in a subprocess


def find_mnist_dir():
    """$FRAMEWORK_MIRROR_MNIST, ../shared/data/mnist beside the checkout, else the copy that ships
    with the package (compare/data/mnist_files)."""
    candidates = [os.environ.get("FRAMEWORK_MIRROR_MNIST"), REPO.parent / "shared" / "data" / "mnist",
                  REPO / "compare" / "data" / "mnist_files"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    folder = find_mnist_dir()
    if folder is None:
        pytest.skip("real MNIST files not found: set FRAMEWORK_MIRROR_MNIST to a folder holding the four IDX .gz files")
    return folder


# Hypothesis profiles (tests/test_properties.py): HYPOTHESIS_PROFILE=dev for a longer search.
# Each example builds a Keras model (~0.3 s of tf.function tracing), so CI stays at ~15 examples.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def default_signals():
    """Popen's preexec_fn for a child that a test signals: SIGINT, SIGTERM and SIGHUP at their
    defaults, whatever this process inherited (a suite started as a shell's background job or under
    nohup ignores SIGINT or SIGHUP, and a child inherits an ignored signal: the tool then rightly
    leaves it ignored, and the test would wait for a signal that cannot arrive)."""
    import signal
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
