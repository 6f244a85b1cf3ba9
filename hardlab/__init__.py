"""hardlab: Docker container-security labs as real, runnable pytest suites."""

__version__ = "0.1.0"
