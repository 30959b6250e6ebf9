"""Dukcapil admin tools: fleet status and signed remote deactivation (`kiosk-fleet`)."""
