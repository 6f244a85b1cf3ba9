"""The pytest plugin: collects scenario files, registers the fixtures, sweeps containers, writes reports.

Exposed as the `hardlab` pytest11 entry point (and registered by the repo's conftest.py when plugin
autoloading is off), so another repository that installs hardlab collects its own `scenarios/*.toml`.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hardlab import config as settings
from hardlab import outcomes, spec
from hardlab.core import records
from hardlab.engine import labels
from hardlab.engine.client import connect, sweep_run
from hardlab.engine.lifecycle import drain, remove_all
from hardlab.engine.probe import HostFacts, environment_properties
from hardlab.errors import HarnessError
from hardlab.pytest import allure_case, fixtures, junit, schedule, trustlab
from hardlab.pytest.items import CaseFailure, CaseItem, ScenarioFile
from hardlab.pytest.recorder import Recorder, Summary
from hardlab.pytest.state import KEY, RunState, harness_text, run_state

NAMED = pytest.StashKey[set[Path]]()


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
    group.addoption("--hardlab-cis", action="append", default=[], metavar="ID",
                    help="run only cases whose scenario references these CIS controls or sections (5.12, 5)")
    group.addoption("--hardlab-skip-cis", action="append", default=[], metavar="ID",
                    help="deselect cases whose scenario references these CIS ids")
    group.addoption(
        "--hardlab-any-folder",
        action="store_true",
        help="every scenario file under the paths given is collected, whatever the folders are called "
        "(`hardlab run` sets it); without it only files in a `hardlab_dirs` folder, or named themselves",
    )
    group.addoption("--hardlab-engine", action="append", default=[], metavar="[NAME=]URL[,certs=DIR]",
                    help="run on several engines: each xdist worker is bound to one (worker N to engine N mod "
                    "count), every result records its engine, every engine is swept; repeatable")  # fmt: skip
    parser.addini("hardlab_dirs", "folders whose *.toml files are scenarios", type="args", default=["scenarios"])
    parser.addini(
        "hardlab_ignore",
        "scenario folders left out unless named on the command line",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardlab: a case from a hardlab scenario file")
    for module in (fixtures, trustlab, allure_case):
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, f"hardlab-{module.__name__.rsplit('.', 1)[-1]}")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        run_id, owner = workerinput["hardlab_run_id"], workerinput["hardlab_owner"]
    else:
        run_id = settings.env("HARDLAB_RUN_ID") or labels.new_run_id()
        owner = labels.owner()
    config.stash[KEY] = RunState(run_id, owner, Summary(run_id))
    _bind_engine(config, workerinput)
    if workerinput is None:
        config.pluginmanager.register(Recorder(config.stash[KEY].summary, set(config.getini("hardlab_dirs"))))
        sweep_run_files()
        report = config.getoption("hardlab_report", None)
        if report:
            config.stash[KEY].summary.write_running(Path(report))
    if workerinput is None and hasattr(signal, "SIGTERM"):
        # A nightly job killed by its scheduler gets SIGTERM: unwind like Ctrl-C so the sweep still runs.
        signal.signal(signal.SIGTERM, _terminate)


def _bind_engine(config: pytest.Config, workerinput: dict[str, Any] | None) -> None:
    """--hardlab-engine: this process talks to one engine of the list, chosen by its xdist worker number
    (the lone process of a run without xdist takes the first). DOCKER_* variables are this process's own,
    so every client, probe and docker CLI of this worker reaches that engine and no other."""
    import os

    from hardlab.engine import endpoints
    from hardlab.errors import BadInput

    values = config.getoption("hardlab_engine", None) or []
    if not values:
        return
    try:
        engines = endpoints.gather(list(values), [])
    except BadInput as exc:
        raise pytest.UsageError(str(exc)) from exc
    state = config.stash[KEY]
    state.engines = tuple(engines)
    if workerinput is None and getattr(config.option, "numprocesses", None):
        return  # the xdist controller runs no case: its workers are bound
    worker = str((workerinput or {}).get("workerid", "gw0"))
    number = int(worker[2:]) if worker[2:].isdigit() else 0
    endpoint = engines[number % len(engines)]
    for key in endpoints.ENV_KEYS:
        os.environ.pop(key, None)
    os.environ.update(endpoint.environment({}))
    state.engine = endpoint.name


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's default mode, but a session of scenario files split by container configuration."""
    if getattr(config.option, "dist", None) != "load":
        return None
    return schedule.make_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's run id and owner, so one sweep finds all."""
    state = run_state(node.config)
    node.workerinput["hardlab_run_id"] = state.run_id
    node.workerinput["hardlab_owner"] = state.owner
    node.workerinput["hardlab_planned"] = schedule.planned(node.config)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out `hardlab_ignore` folders unless the command line names them (or something inside)."""
    for folder in (config.rootpath / p for p in config.getini("hardlab_ignore")):
        if collection_path == folder or folder in collection_path.parents:
            named = [Path(a.split("::")[0]).resolve() for a in config.args]
            return None if any(n == folder or folder in n.parents for n in named) else True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--hardlab-cis / --hardlab-skip-cis: deselect scenario cases by the CIS ids their scenario references."""
    include, exclude = config.getoption("hardlab_cis"), config.getoption("hardlab_skip_cis")
    if not include and not exclude:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        ids = [c["id"] for c in records.cis(item.scenario.references)] if isinstance(item, CaseItem) else []
        (keep if records.cis_selected(ids, include, exclude) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    """A TOML file is a scenario when the command line names it, when it is in a `hardlab_dirs` folder, or
    (with --hardlab-any-folder) when it is below a folder the command line names and reads as one: so
    `hardlab run ~/mine/` works, while a plain `pytest tests` leaves the TOML of the tests alone."""
    if file_path.suffix != ".toml":
        return None
    config = parent.config
    dirs = set(config.getini("hardlab_dirs"))
    named = _named_paths(config)
    resolved = file_path.resolve()
    if resolved in named or any(part in dirs for part in file_path.parts[:-1]):
        return ScenarioFile.from_parent(parent, path=file_path)
    below = config.getoption("hardlab_any_folder") and any(p in resolved.parents for p in named)
    # Not pyproject.toml, a course or a host profile that sits beside the scenarios.
    if below and not spec.not_a_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _named_paths(config: pytest.Config) -> set[Path]:
    """The paths the command line names (without ::node ids), resolved once per run."""
    found = config.stash.get(NAMED, None)
    if found is None:
        base = config.invocation_params.dir
        found = {(base / a.split("::")[0]).resolve() for a in config.args}
        config.stash[NAMED] = found
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A case skipped while judging (a `skip_when` step) points at its TOML line, not at the adapter."""
    report = yield
    engine = run_state(item.config).engine
    if engine and isinstance(item, CaseItem):
        report.user_properties.append(("hardlab_engine", engine))
    if isinstance(item, CaseItem) and report.skipped and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), item.case.line or 1, report.longrepr[2])
    if isinstance(item, CaseItem) and report.failed and call.excinfo is not None:
        harness_report(item, report, call.excinfo.value)
    if isinstance(item, CaseItem) and report.when == "teardown":
        allure_case.finish(item)  # every phase is in: the case's allure result is complete before allure writes it
    return report


def harness_report(item: CaseItem, report: Any, exc: BaseException) -> None:
    """Harness trouble in any phase of a case reads as its sentence: no chain of causes, no traceback.
    Any exception hardlab did not raise on purpose is harness trouble of this one case, not a finding."""
    if isinstance(exc, CaseFailure):
        return
    if isinstance(exc, pytest.fail.Exception) and not exc.pytrace:
        report.longrepr = str(exc.msg)  # the sentence alone (the cause stays on the exception for grading)
        return
    if isinstance(exc, (pytest.fail.Exception, pytest.skip.Exception, KeyboardInterrupt)):
        return
    report.longrepr = harness_text(exc, f"{item.path}:{item.case.line}")
    report.user_properties.append(("hardlab_class", outcomes.HARNESS_ERROR))


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers, so nothing starts behind the sweep
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = run_state(config)
    still_running = state.prefetch.close() if state.prefetch is not None else False
    if state.containers is not None:
        state.containers.close()  # no new container from here on, so the sweep below sees them all
    if still_running:
        remove_all()  # the session stops (Ctrl-C, -x) with cases in flight: nobody reads their results
    if state.client is not None:
        drain()
    if hasattr(config, "workerinput"):
        return
    if state.engine_marker.exists():  # some process of this run talked to the engine: sweep even if no report came
        _sweep_run(state)
        state.engine_marker.unlink(missing_ok=True)
    try:
        _write_reports(config, state)
    finally:  # the run's files in the temp folder go with it
        for cache in state.engine_caches():
            cache.unlink(missing_ok=True)
            cache.with_suffix(".lock").unlink(missing_ok=True)
        state.engine_marker.unlink(missing_ok=True)


STALE_S = 24 * 3600  # a run's temp files this old belong to a run that was killed (no run lasts a day)


def sweep_run_files(now: float | None = None) -> int:
    """Remove the temp files (host probe, its lock, engine marker) that killed runs left behind."""
    import time

    now = time.time() if now is None else now
    removed = 0
    for pattern in ("hardlab-host-*.json", "hardlab-host-*.lock", "hardlab-run-*.engine"):
        for path in settings.temp_dir().glob(pattern):
            try:
                if now - path.stat().st_mtime > STALE_S:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # another run removed it first
    return removed


def _write_reports(config: pytest.Config, state: RunState) -> None:
    path = config.getoption("hardlab_report")
    if not state.summary.records:
        if path:  # nothing ran: say so rather than leave "running"
            state.summary.write(Path(path), state.host())
        return
    host = state.host()
    if path:
        state.summary.write(Path(path), host, state.engine_hosts() if state.engines else None)
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath and Path(xmlpath).is_file():  # junitxml wrote it in its own sessionfinish, before this one
        junit.normalize(Path(xmlpath), list(state.summary.records.values()),
                        getattr(config.option, "junitprefix", None) or "")
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir and host:
        Path(alluredir).mkdir(parents=True, exist_ok=True)
        facts = HostFacts.from_json(json.dumps(host))
        (Path(alluredir) / "environment.properties").write_text(environment_properties(facts))
    if alluredir and Path(alluredir).is_dir():
        allure_case.write_categories(Path(alluredir))


def _sweep_run(state: RunState) -> None:
    if state.engines:
        _sweep_engines(state)
        return
    try:
        client = state.client or connect(timeout=30)
        left = sweep_run(client, state.run_id)
    except HarnessError as exc:
        print(f"\nhardlab: {exc}; its containers go with the engine, or the next run's sweep removes them")
        return
    if left:
        print(f"\nhardlab: removed {left} container(s) left by run {state.run_id} (interrupted or crashed worker)")


def _sweep_engines(state: RunState) -> None:
    """Every engine of a several-engine run swept of this run's containers; one that does not answer is named."""
    from hardlab.engine.client import connect_endpoint

    for endpoint in state.engines:
        try:
            left = sweep_run(connect_endpoint(endpoint, timeout=30), state.run_id)
        except HarnessError as exc:
            print(f"\nhardlab: engine {endpoint.name}: {exc}; its containers go with the engine, or the next "
                  "run's sweep removes them")  # fmt: skip
            continue
        if left:
            print(f"\nhardlab: removed {left} container(s) left by run {state.run_id} on engine {endpoint.name}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(KEY, None)
    if state is None or hasattr(config, "workerinput") or not state.summary.records:
        return
    summary = state.summary
    write = terminalreporter.write_line
    terminalreporter.section("hardlab")
    totals = summary.totals()
    write(", ".join(f"{n} {k}" for k, n in totals.items()) + f"  (run {state.run_id})")
    reasons = summary.skip_reasons()
    if reasons:
        write("skipped because the host lacks a feature (these are not passes):")
        for reason, count in reasons.most_common():
            write(f"  {count:>3} × {reason}")
    remedies = summary.remediations()
    if remedies:
        write("remediation (once per scenario with a failed case):")
        for scenario, (text, cases) in remedies.items():
            write(f"  {scenario} ({', '.join(cases)}): {text}")
    path = config.getoption("hardlab_report")
    if path:
        write(f"summary: {path}")
