"""Runtime helpers every process needs once: clock, tasks, hardening, TLS, personal-data buffers.

Stdlib and `cryptography` only; every other package may import it, it imports none of them.
"""
