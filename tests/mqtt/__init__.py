"""The agent's MQTT side against a real mosquitto: ACL, sessions, telemetry, usage."""
