"""Tests of `kiosk-fleet evidence`."""
