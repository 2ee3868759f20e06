"""Test-wide settings: hypothesis profiles, logging restored after each test.

Profiles: `ci` (the default: derandomized, so a run can only fail on a change of code, never on
a new draw), `thorough` (random, 3,000 examples: `make test-deep`; pin each find with
`@example`), `chain` (few examples: each costs transactions on anvil).
"""

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=3000, print_blob=True)
settings.register_profile(
    # chain examples cost a few transactions each: fewer of them, no health check on slow data
    "chain",
    deadline=None,
    derandomize=os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci",
    max_examples=int(os.environ.get("CHAIN_EXAMPLES", "20")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """In-process CLI runs install their own log handlers (`ammkeeper run`): each test gets the
    root logger's handlers and the levels back as they were, so no later test logs into a stream
    an earlier test's capture has closed."""
    names = ("", "web3", "aiohttp", "urllib3", "asyncio")
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger, list(logger.handlers), logger.level) for logger in loggers]
    yield
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
