import os

pytest_plugins = ["tests.support.temporal"]
# The real PostgreSQL fixtures (postgres_server_url, postgres_url) for every suite.
pytest_plugins = [*pytest_plugins, "tests.support.postgres"]

# The suites' "remote" services are HTTP servers on 127.0.0.1; workers started by tests
# (in process or as subprocesses) may reach them. tests/actions/test_egress.py checks
# the default policy, which denies loopback, with policies of its own.
os.environ.setdefault("SEGUE_EGRESS_ALLOW", "127.0.0.0/8,::1")  # = processes.TEST_EGRESS_ALLOW
