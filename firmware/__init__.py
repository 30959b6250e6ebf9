"""Supervisor MCU firmware (MicroPython)."""
