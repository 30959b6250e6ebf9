"""Signed admin documents and the kiosk's remote state."""
