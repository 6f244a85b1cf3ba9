"""The pytest plugin: collects scenario files, provides fixtures, sweeps containers, writes reports.

Registered by the repo's conftest.py and exposed as the `hardlab` pytest11 entry point.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hardlab.core.report import HARNESS_ERROR, HOST_FEATURE_MISSING, Summary, evidence
from hardlab.engine import labels
from hardlab.pytest.items import ScenarioFile
from hardlab.system.locks import file_lock

STATE = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hardlab", "hardlab scenarios")
    group.addoption(
        "--hardlab-strict",
        action="store_true",
        help="a missing host feature fails the case instead of skipping it (nightly verification)",
    )
    group.addoption("--hardlab-report", metavar="PATH", help="write the run's JSON summary to PATH")
    group.addoption(
        "--hardlab-input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a scenario input (e.g. profile=./my-seccomp.json); repeatable",
    )
    parser.addini("hardlab_dirs", "folders whose *.toml files are scenarios", type="args", default=["scenarios"])
    parser.addini(
        "hardlab_ignore",
        "scenario folders left out unless named on the command line (e.g. the host-audit pack: `hardlab audit`)",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardlab: a case from a hardlab scenario file")
    # One invalid scenario file is one collection error; every other file still runs.
    config.option.continue_on_collection_errors = True
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        run_id, owner = workerinput["hardlab_run_id"], workerinput["hardlab_owner"]
    else:
        run_id = os.environ.get("HARDLAB_RUN_ID") or labels.new_run_id()
        owner = labels.owner()
    config.stash[STATE] = {"run_id": run_id, "owner": owner, "summary": Summary(run_id), "client": None}
    if workerinput is None:
        recorder = _Recorder(config.stash[STATE]["summary"], set(config.getini("hardlab_dirs")))
        config.pluginmanager.register(recorder, "hardlab-recorder")
    if workerinput is None and hasattr(signal, "SIGTERM"):
        # A nightly job killed by its scheduler gets SIGTERM: unwind like Ctrl-C so the sweep still runs.
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's run id and owner, so one sweep finds all."""
    state = node.config.stash[STATE]
    node.workerinput["hardlab_run_id"] = state["run_id"]
    node.workerinput["hardlab_owner"] = state["owner"]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out `hardlab_ignore` folders unless the command line names them (or something inside)."""
    for folder in (config.rootpath / p for p in config.getini("hardlab_ignore")):
        if collection_path == folder or folder in collection_path.parents:
            named = [Path(a.split("::")[0]).resolve() for a in config.args]
            return None if any(n == folder or folder in n.parents for n in named) else True
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix != ".toml":
        return None
    config = parent.config
    dirs = set(config.getini("hardlab_dirs"))
    explicit = any(Path(arg.split("::")[0]).resolve() == file_path.resolve() for arg in config.args)
    if explicit or any(part in dirs for part in file_path.parts[:-1]):
        for tag_holder in (file_path,):
            _register_markers(config, tag_holder)
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _register_markers(config: pytest.Config, file_path: Path) -> None:
    """Scenario tags become markers; register them so `-m seccomp` works under --strict-markers."""
    import re

    text = file_path.read_text(encoding="utf-8", errors="replace")
    for block in re.findall(r"^\s*tags\s*=\s*\[([^\]]*)\]", text, re.MULTILINE):
        for tag in re.findall(r"[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']", block):
            config.addinivalue_line("markers", f"{tag}: hardlab scenario tag")


def _client(config: pytest.Config) -> Any:
    from hardlab.engine.runner import connect, sweep_dead

    state = config.stash[STATE]
    if state["client"] is None:
        state["client"] = connect()
        _engine_marker(state["run_id"]).touch()  # tells the xdist controller this run has containers to sweep
        sweep_dead(state["client"])  # leftovers of runs whose owner died (kill -9, crashed CI)
    return state["client"]


def _engine_marker(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"hardlab-run-{run_id}.engine"


@pytest.fixture(scope="session")
def hardlab_client(pytestconfig: pytest.Config) -> Any:
    """A docker-py client that has answered a ping (the session's one connection)."""
    from hardlab.engine.runner import EngineError

    try:
        return _client(pytestconfig)
    except EngineError as exc:
        pytest.fail(f"HARNESS ERROR (not a security finding): {exc}", pytrace=False)


@pytest.fixture(scope="session")
def hardlab_host(pytestconfig: pytest.Config, hardlab_client: Any) -> Any:
    """What this host can enforce; probed once per run and shared by xdist workers through a file."""
    from hardlab.engine.probe import HostFacts, probe

    run_id = pytestconfig.stash[STATE]["run_id"]
    cache = Path(tempfile.gettempdir()) / f"hardlab-host-{run_id}.json"
    with file_lock(cache.with_suffix(".lock")):
        if cache.is_file():
            return HostFacts.from_json(cache.read_text())
        facts = probe(hardlab_client)
        cache.write_text(facts.to_json())
        return facts


@pytest.fixture(scope="session")
def hardlab_run_id(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.stash[STATE]["run_id"])


def _overrides(config: pytest.Config) -> dict[str, str]:
    out = {}
    for item in config.getoption("hardlab_input") or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--hardlab-input expects NAME=VALUE, got {item!r}")
        out[name] = value
    return out


@pytest.fixture
def hardlab_case_run(request: pytest.FixtureRequest, hardlab_client: Any, hardlab_host: Any) -> Any:
    """Setup phase of a case: check requirements, then run it on the engine. Engine trouble raises here,
    so pytest reports it as an ERROR, never as a failed security check."""
    from hardlab.core.inputs import InputError, bind
    from hardlab.engine.runner import run_case

    item = request.node
    scenario, case = item.scenario, item.case
    missing = hardlab_host.missing(tuple(dict.fromkeys((*scenario.requires, *case.requires))))
    if missing:
        item.user_properties.append(("hardlab_class", HOST_FEATURE_MISSING))
        if request.config.getoption("hardlab_strict"):
            pytest.fail("STRICT: " + "; ".join(missing), pytrace=False)
        pytest.skip("; ".join(missing))
    state = request.config.stash[STATE]
    from hardlab.engine.images import ImageError
    from hardlab.engine.runner import EngineError

    try:
        values = bind(scenario, getattr(item, "hardlab_inputs", None) or _overrides(request.config))
        if case.runner == "host":
            result = _run_host_case(request, hardlab_client, scenario, case)
        else:
            result = run_case(hardlab_client, case, scenario.path.parent, state["run_id"], state["owner"], values)
    except InputError as exc:
        return exc
    except (EngineError, ImageError) as exc:
        # Engine down, image missing: a setup ERROR that reads as a sentence, never a failed security check.
        item.user_properties.append(("hardlab_class", HARNESS_ERROR))
        pytest.fail(f"HARNESS ERROR (not a security finding): {exc}\ncase: {scenario.path}:{case.line}", pytrace=False)
    item.user_properties.append(("hardlab_evidence", json.dumps(evidence(result))))
    return result


def _run_host_case(request: pytest.FixtureRequest, client: Any, scenario: Any, case: Any) -> Any:
    """A `runner = "host"` case: steps on the host, with the content-trust lab when it `uses` one."""
    from hardlab.hoststeps import run_host_case

    lab, values = None, {}
    if "trust-lab:own" in case.uses:  # a case that stops a server gets a lab of its own
        from hardlab.trust.repos import seed

        lab = request.getfixturevalue("fresh_trust_lab")
        values = seed(lab).placeholders(lab)
    elif "trust-lab" in case.uses:
        lab = request.getfixturevalue("trust_lab")
        values = request.getfixturevalue("trust_repos").placeholders(lab)
    return run_host_case(case, scenario.path.parent, client, lab, values)


class _Recorder:
    """Feeds every case's reports into the run summary (on the xdist controller, or the lone process)."""

    def __init__(self, summary: Summary, dirs: set[str]):
        self.summary = summary
        self.dirs = dirs

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        in_pack = report.nodeid.split("/")[0] in self.dirs
        if in_pack or any(name == "hardlab" for name, _ in report.user_properties):
            self.summary.add(report)


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers, so nothing starts behind the sweep
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash[STATE]
    if state["client"] is not None:
        from hardlab.engine.runner import drain

        drain()
    if hasattr(config, "workerinput"):
        return
    marker = _engine_marker(state["run_id"])
    if marker.exists():  # some process of this run talked to the engine: sweep even if no report came back
        _sweep_run(state)
        marker.unlink(missing_ok=True)
    summary: Summary = state["summary"]
    if not summary.records:
        return
    host = _read_host(state["run_id"])
    path = config.getoption("hardlab_report")
    if path:
        summary.write(Path(path), host)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir and host:
        from hardlab.engine.probe import HostFacts, environment_properties

        Path(alluredir).mkdir(parents=True, exist_ok=True)
        (Path(alluredir) / "environment.properties").write_text(
            environment_properties(HostFacts.from_json(json.dumps(host)))
        )


def _sweep_run(state: dict[str, Any]) -> None:
    from hardlab.engine.runner import EngineError, connect, sweep_run

    try:
        client = state["client"] or connect(timeout=30)
        left = sweep_run(client, state["run_id"])
    except EngineError:
        return
    if left:
        print(f"\nhardlab: removed {left} container(s) left by run {state['run_id']} (interrupted or crashed worker)")


def _read_host(run_id: str) -> dict[str, Any] | None:
    cache = Path(tempfile.gettempdir()) / f"hardlab-host-{run_id}.json"
    if not cache.is_file():
        return None
    data: dict[str, Any] = json.loads(cache.read_text())
    return data


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if not state or hasattr(config, "workerinput"):
        return
    summary: Summary = state["summary"]
    if not summary.records:
        return
    write = terminalreporter.write_line
    terminalreporter.section("hardlab")
    totals = summary.totals()
    write(", ".join(f"{n} {k}" for k, n in totals.items()) + f"  (run {state['run_id']})")
    reasons = summary.skip_reasons()
    if reasons:
        write("skipped because the host lacks a feature (these are not passes):")
        for reason, count in reasons.most_common():
            write(f"  {count:>3} × {reason}")
    path = config.getoption("hardlab_report")
    if path:
        write(f"summary: {path}")
