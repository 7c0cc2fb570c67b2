"""Test-wide setup. Fixtures live in plugins/ and in each folder's own conftest.py.

The emulator fixtures come from m365bot's own pytest plugin (m365bot.emulator.pytest_plugin),
which users get too.
"""

pytest_plugins = ["plugins.canary", "plugins.graph_schema"]
