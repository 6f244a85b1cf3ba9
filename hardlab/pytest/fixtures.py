"""The adapter's fixtures: the engine client, the host probe, and the setup phase of every case."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hardlab import config as settings
from hardlab.core.inputs import InputError, bind
from hardlab.core.records import evidence
from hardlab.core.rules import rule_facts
from hardlab.engine.client import answers, connect, sweep_dead
from hardlab.engine.lifecycle import session_containers
from hardlab.engine.probe import HostFacts, probe
from hardlab.engine.runner import run_case
from hardlab.errors import HarnessError
from hardlab.hoststeps import run_host_case
from hardlab.outcomes import HARNESS_ERROR, HOST_FEATURE_MISSING
from hardlab.pytest import schedule
from hardlab.pytest.prefetch import Prefetch, eligible
from hardlab.pytest.state import harness_failure, run_state, unexpected
from hardlab.system.locks import file_lock
from hardlab.trust.repos import seed


def engine_client(cfg: pytest.Config) -> Any:
    """The run's one docker-py client; the first use also sweeps leftovers of runs whose owner died."""
    state = run_state(cfg)
    if state.client is None:
        client = connect()
        state.engine_marker.touch()  # tells the xdist controller this run has containers to sweep
        try:
            sweep_dead(client)  # leftovers of runs whose owner died (kill -9, crashed CI)
        except Exception as exc:  # the engine failed listing them: this run still runs, the next sweep retries
            print(f"hardlab: the sweep of dead runs' containers failed ({type(exc).__name__}); continuing")
        state.containers = session_containers()
        state.client = client
    return state.client


def host_facts_for(cfg: pytest.Config, client: Any) -> HostFacts:
    """What this host can enforce; probed once per run and shared by xdist workers through a file."""
    cache = run_state(cfg).host_cache
    with file_lock(cache.with_suffix(".lock")):
        if cache.is_file():
            return HostFacts.from_json(cache.read_text())
        facts = probe(client)
        cache.write_text(facts.to_json())
        return facts


@pytest.fixture(scope="session")
def hardlab_client(pytestconfig: pytest.Config) -> Any:
    """A docker-py client that has answered a ping (the session's one connection)."""
    try:
        return engine_client(pytestconfig)
    except HarnessError as exc:
        raise harness_failure(exc) from exc


@pytest.fixture(scope="session")
def hardlab_host(request: pytest.FixtureRequest, hardlab_client: Any) -> HostFacts:
    """What this host can enforce; probed once per run and shared by xdist workers through a file.
    Knowing it, this process starts running its container cases ahead (hardlab.pytest.prefetch)."""
    facts = host_facts_for(request.config, hardlab_client)
    start_prefetch(request.session, hardlab_client, facts)
    return facts


def start_prefetch(session: pytest.Session, client: Any, host: HostFacts) -> None:
    """Run this process's container cases ahead in a pool (its xdist share, or the whole session)."""
    config = session.config
    state = run_state(config)
    threads = settings.prefetch_threads()
    if state.prefetch is not None or threads == 0 or state.containers is None:
        return
    mine = [item for item in schedule.my_share(config, session.items) if eligible(item, host)]
    if mine:
        state.prefetch = Prefetch(threads)
        state.prefetch.start(client, host, mine, state.run_id, state.owner, overrides(config), state.containers)


@pytest.fixture(scope="session")
def hardlab_run_id(pytestconfig: pytest.Config) -> str:
    return run_state(pytestconfig).run_id


def overrides(cfg: pytest.Config) -> dict[str, str]:
    """--hardlab-input NAME=VALUE options as a table."""
    out = {}
    for item in cfg.getoption("hardlab_input") or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--hardlab-input expects NAME=VALUE, got {item!r}")
        out[name] = value
    return out


@pytest.fixture
def hardlab_case_run(request: pytest.FixtureRequest, hardlab_client: Any, hardlab_host: HostFacts) -> Any:
    """Setup phase of a case: check requirements, then run it on the engine. Engine trouble fails here,
    so pytest reports it as an ERROR, never as a failed security check. An unusable input is returned
    (the call phase reports it)."""
    item = request.node
    scenario, case = item.scenario, item.case
    missing = hardlab_host.missing(tuple(dict.fromkeys((*scenario.requires, *case.requires))))
    if missing:
        item.user_properties.append(("hardlab_class", HOST_FEATURE_MISSING))
        if request.config.getoption("hardlab_strict"):
            pytest.fail("STRICT: " + "; ".join(missing), pytrace=False)
        pytest.skip("; ".join(missing))
    state = run_state(request.config)
    ahead = state.prefetch.take(item) if state.prefetch is not None else None
    if state.engine_down:  # one "engine down" error, then every other case stops at once
        item.user_properties.append(("hardlab_class", HARNESS_ERROR))
        raise harness_failure(HarnessError(f"not run: {state.engine_down}"), f"{scenario.path}:{case.line}")
    try:
        if ahead is not None:
            result = ahead.result()  # run ahead by the session's pool (hardlab.pytest.prefetch)
        elif case.runner == "host":
            bind(scenario, item.hardlab_inputs or overrides(request.config))
            result = _run_host_case(request, hardlab_client, scenario, case)
        else:
            values = bind(scenario, item.hardlab_inputs or overrides(request.config))
            result = run_case(hardlab_client, case, scenario.path.parent, state.run_id, state.owner, values,
                              containers=state.containers, facts=rule_facts(hardlab_host.engine))  # fmt: skip
    except InputError as exc:
        return exc
    except HarnessError as exc:
        item.user_properties.append(("hardlab_class", HARNESS_ERROR))
        if not answers(hardlab_client):
            state.engine_down = f"the engine stopped answering during this run ({exc})"
            raise harness_failure(HarnessError(f"engine down: {exc}"), f"{scenario.path}:{case.line}") from exc
        raise harness_failure(exc, f"{scenario.path}:{case.line}") from exc
    except (pytest.skip.Exception, pytest.fail.Exception):
        raise
    except Exception as exc:  # anything else is hardlab's trouble with this one case: the others still run
        item.user_properties.append(("hardlab_class", HARNESS_ERROR))
        raise harness_failure(unexpected(exc), f"{scenario.path}:{case.line}") from exc
    item.user_properties.append(("hardlab_evidence", json.dumps(evidence(result))))
    item.hardlab_result = result
    return result


def _run_host_case(request: pytest.FixtureRequest, client: Any, scenario: Any, case: Any) -> Any:
    """A `runner = "host"` case: steps on the host, with the content-trust lab when it `uses` one."""
    lab, values = None, {}
    if "trust-lab:own" in case.uses:  # a case that stops a server gets a lab of its own
        lab = request.getfixturevalue("fresh_trust_lab")
        values = seed(lab).placeholders(lab)
    elif "trust-lab" in case.uses:
        lab = request.getfixturevalue("trust_lab")
        values = request.getfixturevalue("trust_repos").placeholders(lab)
    return run_host_case(case, scenario.path.parent, client, lab, values)


__all__ = ["hardlab_case_run", "hardlab_client", "hardlab_host", "hardlab_run_id"]
