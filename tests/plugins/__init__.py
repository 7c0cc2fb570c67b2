"""The suite's own pytest plugins (tests/conftest.py loads them).

Helpers import ``plugins.canary`` before pytest loads it as a plugin, so its asserts are
registered for rewriting here, where the package is first imported: a leak then fails with
pytest's own explanation, and the run prints no "cannot be rewritten" warning.
"""

import pytest

pytest.register_assert_rewrite("plugins.canary", "plugins.graph_schema")
