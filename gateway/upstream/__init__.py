"""Upstream adapters: the interface, the HTTP/1.1 client and the Dukcapil HTTP adapter."""
