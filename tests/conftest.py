"""Shared test configuration."""

import os

from hypothesis import HealthCheck, settings

# CI machines are shared and noisy: never fail a property on timing.
settings.register_profile(
    "ci", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
