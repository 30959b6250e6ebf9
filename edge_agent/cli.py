"""`kiosk-agent --config agent.toml`: run the kiosk agent (or only check its configuration)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from edge_agent.config import AgentConfig, check_files, load_config, require_token
from edge_agent.errors import AgentError, ConfigError
from edge_agent.hygiene import install_log_filter
from edge_agent.wiring.run import harden_process, run_agent
from edge_agent.wiring.testclock import shifted_wall

_log = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk-agent", description="Platform Bersama kiosk agent: KTP-el verification."
    )
    parser.add_argument("--config", required=True, help="path of agent.toml")
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration and the certificate files, then exit",
    )
    return parser


def setup_logging(level: str) -> None:
    """Log to stderr (journald adds the time), through the last-resort NIK filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    install_log_filter(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _load(path: str) -> AgentConfig:
    config = load_config(path)
    require_token(config, source=path)
    check_files(config, source=path)
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-agent."""
    args = _parser().parse_args(argv)
    try:
        config = _load(args.config)
    except ConfigError as err:
        print(f"kiosk-agent: error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        print(f"kiosk-agent: {args.config}: configuration OK (device {config.device.id})")
        return 0
    setup_logging(config.log.level)
    harden_process()
    try:
        wall = shifted_wall(os.environ)  # tests of a wrong clock only
        asyncio.run(run_agent(config, wall=wall))
    except ConfigError as err:
        _log.error("kiosk-agent: error: %s", err)
        return EXIT_CONFIG
    except AgentError as err:
        _log.error("kiosk-agent: error: %s", err)
        return EXIT_STARTUP
    return 0
