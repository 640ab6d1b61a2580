"""Segue's HTTP API: a Litestar application over the engine's store and Temporal
(`api.app.create_app`). Imports flow api -> engine, never back.

Nothing is imported here, so that `segue --help` and `segue api` argument parsing stay
light; import `api.app` for the application."""
