"""kiosk-fleet against a real mosquitto, the real gateway and a running agent."""
