"""pytest set-up shared by every test.

Hypothesis runs under the project's ``quick`` profile (:mod:`multidraft.properties.strategies`:
derandomised, no example database, no deadline), loaded before any test module builds its
``@settings``, so those inherit it: every run, on any machine, sees the same examples and CI
is deterministic. A test's own ``max_examples`` still sets its count. Long randomised runs are
``multidraft check --profile thorough``, not part of the test suite.
"""

from hypothesis import settings

from multidraft.properties.strategies import register_profiles

register_profiles()
settings.load_profile("quick")
