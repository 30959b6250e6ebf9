"""edge_agent.wiring."""
