"""hardware.card."""
