"""Scenario files as a model: TOML -> validated dataclasses, every problem with file, line and key. Pure."""
