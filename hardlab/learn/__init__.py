"""`hardlab learn`: record a workload's syscalls, generate a least-privilege seccomp profile, prove it.

trace (strace output -> syscalls per ABI), runtime (what runc needs, a versioned data file), profile
(recorded calls -> Docker profile JSON) and proof (the scenario TOML) are pure; run drives the engine
(through hardlab.engine) and the normal pytest runner.
"""
