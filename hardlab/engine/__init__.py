"""The Docker Engine: the only package that imports docker-py."""
