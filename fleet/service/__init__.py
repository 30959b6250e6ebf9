"""`kiosk-fleet serve`: the long-running fleet service.

MQTT v5 shared-subscription ingest into the store (`ingest`, `worker`), alerts on ingest and on
a timer (`rules`, `alerting`, `gateway_poll`), their webhook (`webhook`), the dashboard's web
server (`web`), the process (`process`) and its CLI commands (`cli`). `settings` holds the
fleet.toml sections and imports nothing heavy: fleet/config.py reads them.
"""
