pytest_plugins = ["tests.support.temporal"]
