"""edge_agent.uplink."""
