"""edge_agent.session."""
