"""Privacy tests and the canary scanner they share."""
