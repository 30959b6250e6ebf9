"""The kiosk's identity: a key in a PKCS#11 token, a certificate enrolled and renewed by EST."""
