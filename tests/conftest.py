"""Shared test settings."""
import os


# Hypothesis profiles (tests/test_properties.py): HYPOTHESIS_PROFILE=dev for a longer search.
# Each example builds a Keras model (~0.3 s of tf.function tracing), so CI stays at ~15 examples.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
