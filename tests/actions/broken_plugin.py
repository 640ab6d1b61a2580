"""A plugin whose import fails, as a plugin with a bug in it would."""

raise RuntimeError("plugin bug at import time")
