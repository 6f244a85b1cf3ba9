"""Registers the hardlab plugin for this repo (when the pytest11 entry point has not already)."""

import os
from importlib.metadata import entry_points

_autoloaded = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
    ep.name == "hardlab" for ep in entry_points(group="pytest11")
)
# The plugin registers its own fixtures (the engine, the host probe, the content-trust lab).
pytest_plugins = [] if _autoloaded else ["hardlab.pytest.plugin"]
