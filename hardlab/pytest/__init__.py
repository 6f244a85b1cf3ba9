"""The pytest adapter: a File per TOML scenario, an item per case, fixtures, the run recorder."""
