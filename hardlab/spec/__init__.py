"""Scenario files as a model: TOML -> validated dataclasses, every problem with file, line and key. Pure.

A scenario file is TOML:

    schema_version = 1
    [scenario]  id, title, description, tags, requires, references, remediation, severity
    [inputs.NAME]  kind, default, description      (overridable from outside: grading, host profiles)
    [defaults]  any case key but id/title/step/control/parametrize, merged into every case
    [[case]]  id, title, tags, requires, image, timeout, container, use_inputs, start_error,
              expect_start, run_as, no_control_reason, runner, uses, severity, parametrize, [[case.step]],
              [case.control]

    from hardlab import spec
    scenario = spec.load("scenarios/seccomp/default.toml")   # raises spec.ScenarioError listing every problem

Modules: `model` (the dataclasses), `scenario` (load), `case` (one [[case]] table), `abis` (syscall ABIs
and probe names), `steps` (steps and expectations), `container`
(the option allow-list), `seccomp` (profiles), `placeholders` (`${name}`), `checker` (problem collection,
shared with course files), `vocabulary` (feature, errno and input-kind names), `caps`, `tomlpos`,
`facts` (the engine facts a `when` rule may test).
"""

from hardlab.spec.case import DEFAULT_TIMEOUT, LAB_IMAGE_PREFIX, TAG
from hardlab.spec.checker import Checker, ScenarioError, display_path, toml_error_line
from hardlab.spec.container import (
    CONTAINER_OPTIONS,
    DEFAULT_LIMITS,
    check_container,
    container_problems,
    implied_requirements,
    normal_options,
    size_bytes,
)
from hardlab.spec.facts import FACTS, VersionRange, parse_range, version_tuple
from hardlab.spec.model import (
    PROC_STATUS_ARGV,
    Case,
    CliStep,
    ControlRun,
    Expectation,
    FactRule,
    HostAction,
    Input,
    NotaryStep,
    PushStep,
    ScanStep,
    Scenario,
    SkipWhen,
    Step,
)
from hardlab.spec.placeholders import TRUST_PLACEHOLDERS, placeholders, substitute
from hardlab.spec.scenario import SCHEMA_VERSION, load, not_a_scenario
from hardlab.spec.seccomp import MAX_PROFILE_BYTES, ProfileError, read_profile, seccomp_problems, seccomp_text_problems
from hardlab.spec.steps import PROBE
from hardlab.spec.vocabulary import ERRNO_NAMES, FEATURES, INPUT_KINDS, RUNNERS, SEVERITIES, USES

__all__ = [
    "CONTAINER_OPTIONS",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "ERRNO_NAMES",
    "FACTS",
    "FEATURES",
    "INPUT_KINDS",
    "LAB_IMAGE_PREFIX",
    "MAX_PROFILE_BYTES",
    "PROBE",
    "PROC_STATUS_ARGV",
    "RUNNERS",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "TAG",
    "TRUST_PLACEHOLDERS",
    "USES",
    "Case",
    "Checker",
    "CliStep",
    "ControlRun",
    "Expectation",
    "FactRule",
    "HostAction",
    "Input",
    "NotaryStep",
    "ProfileError",
    "PushStep",
    "ScanStep",
    "Scenario",
    "ScenarioError",
    "SkipWhen",
    "Step",
    "VersionRange",
    "check_container",
    "container_problems",
    "display_path",
    "implied_requirements",
    "load",
    "normal_options",
    "not_a_scenario",
    "parse_range",
    "placeholders",
    "read_profile",
    "seccomp_problems",
    "seccomp_text_problems",
    "size_bytes",
    "substitute",
    "toml_error_line",
    "version_tuple",
]
