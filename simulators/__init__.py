"""Virtual devices and the virtual Dukcapil upstream. They replace devices, never middleware."""
