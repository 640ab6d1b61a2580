"""`segue api`: serve the API with uvicorn (the production process; scale it freely)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from dataclasses import replace

from api.config import ApiConfig, ConfigError


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_config(host: str, *, insecure_dev: bool, config: ApiConfig | None = None) -> ApiConfig:
    """The configuration to serve with; `ConfigError` unless a token is configured or
    auth is knowingly disabled on a loopback address."""
    config = config if config is not None else ApiConfig.from_env()
    if config.tokens:
        return config
    if not insecure_dev:
        raise ConfigError(
            "no API token: set SEGUE_API_TOKEN, or pass --insecure-dev on a loopback host"
        )
    if not is_loopback(host):
        raise ConfigError(
            f"--insecure-dev serves without authentication: only on loopback, not {host!r}"
        )
    return replace(config, auth_disabled=True)


def api_main(args: argparse.Namespace) -> int:
    """`segue api`: serve until SIGTERM/SIGINT; 2 on a configuration that cannot work."""
    try:
        config = serving_config(args.host, insecure_dev=args.insecure_dev)
        from api.app import create_app
        from api.http_server import ServerLimits

        limits = ServerLimits.from_env()
        app = create_app(config)
    except ConfigError as error:
        print(f"segue api: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from api.http_server import server_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = server_config(
        app, args.host, args.port, limits=limits, log_level="info", proxy_headers=True
    )
    uvicorn.Server(options).run()
    return 0
