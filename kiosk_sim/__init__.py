"""kiosk_sim."""
