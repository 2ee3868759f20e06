"""Test-wide settings: hypothesis profiles (HYPOTHESIS_PROFILE=thorough for a deep run)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=3000)
settings.register_profile(
    # chain examples cost a few transactions each: fewer of them, no health check on slow data
    "chain",
    deadline=None,
    max_examples=int(os.environ.get("CHAIN_EXAMPLES", "20")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
