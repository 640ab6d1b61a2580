pytest_plugins = ["tests.support.temporal"]
# The real PostgreSQL fixtures (postgres_server_url, postgres_url) for every suite.
pytest_plugins = [*pytest_plugins, "tests.support.postgres"]
