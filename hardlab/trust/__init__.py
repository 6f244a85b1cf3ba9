"""The content-trust lab: a registry and a notary server on loopback."""
