"""Nightly host-hardening audit of one or more engines."""
