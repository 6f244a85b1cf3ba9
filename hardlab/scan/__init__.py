"""Offline vulnerability scanning of an image's packages with klar's gate."""
