"""`kiosk-fleet evidence`: PoC evidence of the PKS and Juknis duties (docs/fleet-evidence.md)."""
