"""Engine-dependent expectations: apply a step's `when` rules to the facts of the engine that runs it.

The first rule whose conditions all hold replaces the expectation keys it names (or skips the case);
every step with rules records which facts decided it, so a verdict always names what it depended on.
A fact the probe could not tell makes the case skip naming it: guessing would risk a false finding.
Pure: the facts come from hardlab.engine.probe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hardlab.spec import FACTS, Case, Expectation, FactRule, Step, caps, parse_range, version_tuple
from hardlab.spec.steps import CAP_FIELDS

Facts = Mapping[str, Any]  # fact name (hardlab.spec.FACTS) -> value; None when unknown


def rule_facts(engine: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule facts from the host probe's engine record (`HostFacts.engine`), plus any it measured apart."""
    out: dict[str, Any] = {
        "engine": engine.get("server_version"),
        "runtime": engine.get("runtime"),
        "runtime_version": engine.get("runtime_version"),
        "kernel": engine.get("kernel_version"),
        "cgroup": str(engine["cgroup_version"]) if engine.get("cgroup_version") else None,
        "rootless": engine.get("rootless"),
        "engine_caps": engine.get("engine_caps"),  # for the @engine capability set, not a `when` fact
    }
    out.update({k: v for k, v in (extra or {}).items() if k in FACTS})
    return out


def holds(fact: str, condition: str, value: Any) -> bool:
    """Whether a known fact value meets a rule's condition (as hardlab.spec.steps wrote it)."""
    kind, _ = FACTS[fact]
    if kind == "version":
        return parse_range(condition).contains(version_tuple(str(value)))
    if kind == "name":
        return str(value) in condition.split("|")
    if kind == "bool":
        return bool(value) == (condition == "true")
    return str(value) == condition


def _shown(fact: str, condition: str) -> str:
    kind, _ = FACTS[fact]
    if kind == "name":
        return " or ".join(condition.split("|"))
    return condition if kind == "version" else f"= {condition}"


def resolve_step(step: Step, facts: Facts) -> tuple[Step, str]:
    """(the step with its expectation decided, a skip reason or ""). A step without rules is unchanged."""
    if not step.when:
        return step, ""
    decided: list[str] = []
    for rule in step.when:
        unknown = [fact for fact, _ in rule.conditions if facts.get(fact) is None]
        if unknown:
            names = ", ".join(f"{f} ({FACTS[f][1]})" for f in unknown)
            reason = (f"the expectation of step {step.name!r} depends on {names}, which this engine's probe could "
                      f"not tell ({rule.reference})")  # fmt: skip
            return dataclasses.replace(step, decided=(reason,)), reason
        tested = [(fact, cond, facts[fact], holds(fact, cond, facts[fact])) for fact, cond in rule.conditions]
        seen = ", ".join(f"{fact} {value} {'meets' if ok else 'does not meet'} {_shown(fact, cond)}"
                         for fact, cond, value, ok in tested)  # fmt: skip
        if all(ok for *_, ok in tested):
            decided.append(f"{seen}: {rule.reference}")
            if rule.skip:
                return dataclasses.replace(step, decided=tuple(decided)), f"{rule.skip} ({seen}; {rule.reference})"
            return dataclasses.replace(step, expect=_merged(step.expect, rule), decided=tuple(decided)), ""
        decided.append(f"{seen} ({rule.reference}): not this rule")
    decided.append("so the step's own expectation holds")
    return dataclasses.replace(step, decided=tuple(decided)), ""


def _merged(base: Expectation, rule: FactRule) -> Expectation:
    """`base` with the keys the rule names taken from the rule (a capability field replaces only itself)."""
    changes: dict[str, Any] = {}
    caps = dict(base.caps)
    if {"errno", "errno_not"} & set(rule.replaces):
        # errno and errno_not are one expectation (what the kernel answered): a rule naming either sets both
        changes["errno"], changes["errno_not"] = rule.expect.errno, rule.expect.errno_not
    for key in rule.replaces:
        if key in ("errno", "errno_not"):
            continue
        if key in CAP_FIELDS:
            caps[CAP_FIELDS[key]] = dict(rule.expect.caps)[CAP_FIELDS[key]]
        else:
            changes[key] = getattr(rule.expect, key)
    if caps != dict(base.caps):
        changes["caps"] = tuple(caps.items())
    return dataclasses.replace(base, **changes)


def engine_set(step: Step, facts: Facts) -> tuple[Step, str]:
    """`@engine` in a capability expectation becomes the engine's own set, by name (a skip when unknown)."""
    if not any("@engine" in names for _, names in step.expect.caps):
        return step, ""
    mask = facts.get("engine_caps")
    if not mask:
        return step, (f"the expectation of step {step.name!r} names @engine, the capabilities the engine itself "
                      "holds, which this engine's probe could not tell")  # fmt: skip
    own = sorted(caps.decode(str(mask)))
    fields = tuple((field, tuple(n for name in names for n in (own if name == "@engine" else [name])))
                   for field, names in step.expect.caps)  # fmt: skip
    note = f"@engine is the engine's own capability set {mask} = {{{', '.join(own)}}}"
    return dataclasses.replace(step, expect=dataclasses.replace(step.expect, caps=fields),
                               decided=(*step.decided, note)), ""  # fmt: skip


def stretch_timeouts(case: Case, factor: float) -> Case:
    """The case with every step's timeout multiplied by `factor` (a slow host: emulated CPU, heavy load).
    The failure text then shows the limit that applied."""
    if factor == 1:
        return case

    def steps(items: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(dataclasses.replace(s, timeout=s.timeout * factor) for s in items)

    control = case.control and dataclasses.replace(case.control, steps=steps(case.control.steps))
    return dataclasses.replace(case, steps=steps(case.steps), control=control)


def resolve_case(case: Case, facts: Facts) -> tuple[Case, str]:
    """The case with every step's expectation decided by `facts`; a skip reason when a rule says so."""
    reasons: list[str] = []

    def steps(items: tuple[Step, ...]) -> tuple[Step, ...]:
        out = []
        for step in items:
            resolved, reason = resolve_step(step, facts)
            if not reason:
                resolved, reason = engine_set(resolved, facts)
            out.append(resolved)
            if reason:
                reasons.append(reason)
        return tuple(out)

    control = case.control and dataclasses.replace(case.control, steps=steps(case.control.steps))
    resolved = dataclasses.replace(case, steps=steps(case.steps), control=control)
    return resolved, (reasons[0] if reasons else "")
