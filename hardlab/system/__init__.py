"""This machine's processes, locks and kernel facilities (no docker, no pytest)."""
