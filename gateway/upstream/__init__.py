"""Upstream adapters: the interface, the HTTP client and the Dukcapil HTTP adapter."""
