"""Runtime helpers every process needs once (stdlib and cryptography only)."""
