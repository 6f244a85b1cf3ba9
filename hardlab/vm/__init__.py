"""The disposable lab VM with AppArmor, where --privileged works."""
