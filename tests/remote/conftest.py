"""Fixtures: a PKI, a real mosquitto per test, admin watchers."""

from tests.mqtt.fixtures import broker, certs, watch

__all__ = ["broker", "certs", "watch"]
