"""The GoTrue server behind the gateway: the endpoints of reference §3."""
