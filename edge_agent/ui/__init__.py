"""The kiosk page and the server that pushes the session's screens to it."""
