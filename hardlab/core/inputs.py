"""Bind a scenario's inputs: its defaults, or values from outside (a student's submission, a host
profile), into the options and commands of its cases. Pure: no pytest, no docker."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab.errors import BadInput
from hardlab.spec import (
    CONTAINER_OPTIONS,
    Case,
    Input,
    ProfileError,
    Scenario,
    Step,
    container_problems,
    normal_options,
    placeholders,
    read_profile,
    seccomp_text_problems,
    substitute,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class InputError(BadInput):
    """An input value is unusable; the message names the file and the key."""


def bind(scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """name -> value for every input: path inputs become absolute paths, options inputs tables.

    An override is a path (absolute, or relative to the current folder) or, for options, a table."""
    values: dict[str, Any] = {}
    for name, spec in scenario.inputs.items():
        if overrides and name in overrides:
            raw, base, source = overrides[name], Path.cwd(), f"input {name!r} (given from outside)"
        else:
            raw, base, source = spec.default, spec.base, f"{scenario.path}: inputs.{name}.default"
        values[name] = _value(spec, raw, base, source)
    unknown = set(overrides or {}) - set(scenario.inputs)
    if unknown:
        raise InputError(f"{scenario.path}: no input named {', '.join(sorted(unknown))}; "
                         f"it declares {', '.join(sorted(scenario.inputs)) or 'none'}")  # fmt: skip
    return values


def _value(spec: Input, raw: Any, base: Path, source: str) -> Any:
    if spec.kind in {"seccomp", "file", "apparmor"}:
        path = Path(str(raw))
        path = path if path.is_absolute() else (base / path).resolve()
        if not path.is_file():
            raise InputError(f"{source}: file not found: {path}")
        if spec.kind == "seccomp":
            try:
                text = read_profile(path)
            except ProfileError as exc:
                raise InputError(f"{source}: {exc}") from None
            problems = seccomp_text_problems(text, str(path))
            if problems:
                raise InputError("; ".join(problems))
        return str(path)
    if spec.kind == "options":
        table = raw
        if isinstance(raw, (str, Path)):
            path = Path(raw) if Path(raw).is_absolute() else base / raw
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise InputError(f"{path}: cannot read run options: {exc}") from None
            except RecursionError:
                raise InputError(f"{path}: cannot read run options: it nests too deeply") from None
        problems = option_problems(table)
        if problems:
            raise InputError(f"{source}: " + "; ".join(problems))
        return normal_options(table)
    return raw


def option_problems(table: Any) -> list[str]:
    if not isinstance(table, dict):
        return ["run options must be a table of docker-py run options"]
    out = [f"unknown run option {key!r}" for key in table if key not in CONTAINER_OPTIONS]
    # The same type, capability and security_opt checks a default gets at load.
    return out + container_problems(table, Path.cwd())


def container_for(case: Case, values: Mapping[str, Any]) -> dict[str, Any]:
    """The case's container options with inputs substituted and `use_inputs` options merged on top."""
    try:
        container = substitute(dict(case.container), values)
    except KeyError as exc:
        raise InputError(f"case {case.id}: no value for input ${{{exc.args[0]}}}") from None
    # An option filled from an input is checked once it has its value, before the engine sees it (the
    # profiles an input names are checked when it is bound).
    filled = {k: container[k] for k, v in case.container.items() if placeholders(v) and k != "security_opt"}
    problems = container_problems(normal_options(filled), Path.cwd()) if filled else []
    if problems:
        raise InputError(f"case {case.id}: " + "; ".join(problems))
    for name in case.use_inputs:
        container.update(values[name])
    return normal_options(container)


def steps_for(steps: tuple[Step, ...], values: Mapping[str, Any]) -> tuple[Step, ...]:
    """Steps with ${name} substituted in their argv and in their expected texts."""
    from dataclasses import fields, replace

    if not values:
        return steps

    def fill(value: Any) -> Any:
        return substitute(value, values, keep_unknown=True)

    out = []
    for step in steps:
        texts: dict[str, Any] = {f.name: tuple(fill(list(getattr(step.expect, f.name)))) for f in fields(step.expect)
                                 if f.name.endswith(("_contains", "_matches"))}  # fmt: skip
        texts |= {f.name: fill(getattr(step.expect, f.name)) for f in fields(step.expect) if f.name.endswith("_equals")}
        out.append(replace(step, argv=tuple(fill(list(step.argv))), expect=replace(step.expect, **texts)))
    return tuple(out)
