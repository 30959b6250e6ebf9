"""The Platform Bersama relay: device auth, policy, quota, anti-scraping, element filtering.

It only carries traffic between kiosks and the Dukcapil upstream and stores no personal data.
Run it with `kiosk-gateway --config gateway.toml`, or in-process with
`gateway.server.start_gateway(gateway.config.load_config(path))`. See docs/gateway.md.
"""
