"""Wiring of data balikan: the institution's link and the session's Balikan, when configured."""

from __future__ import annotations

from common.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.session.balikan import Balikan, ReturnsPort
from edge_agent.session.institution_link import InstitutionLink, institution_tls


async def start_balikan(
    config: AgentConfig, gateway: ReturnsPort, clock: Clock
) -> tuple[Balikan, InstitutionLink] | None:
    """The Balikan of the sessions and its started institution link; None without [balikan]."""
    if config.balikan is None:
        return None
    ctx = institution_tls(config.balikan, config.gateway)  # ConfigError naming the key
    link = InstitutionLink(config.balikan, config.device.id, ctx)
    await link.start()
    return Balikan(config.balikan, link, gateway, clock), link
