"""The disposable lab VM with AppArmor, where --privileged works."""

from hardlab.errors import HarnessError


class VmError(HarnessError):
    """The lab VM could not be built, booted or reached (an infrastructure problem, not a finding)."""
