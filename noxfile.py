"""Every way to build, test, benchmark and exercise Aspen.

`nox -s tests` is what CI runs (through `.ci/run`). Long sessions (`chaos`, `soak`, `load`,
benchmarks) are `default=False` and pass `session.posargs` through to the program they run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


LOCKS = Path("requirements")
"""One lock per extra (`node` is the bare runtime): every direct and transitive dependency,
pinned with hashes. pyproject.toml keeps the loose ranges (the library's contract); the locks are
what the sessions and the node image run. `nox -s lock` refreshes them."""
LOCKED_EXTRAS = ("node", "lab", "test", "dev")


def install(session: nox.Session, extras: str = "test") -> None:
    """Install the locked dependencies of `extras`, then the project itself (editable)."""
    session.install("--require-hashes", "-r", str(LOCKS / f"{extras}.txt"))
    session.install("--no-deps", "-e", ".")


@nox.session(python=PYTHON, default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve every lock in requirements/ from pyproject.toml with uv (hashes, all platforms).

    `-- --upgrade-package NAME` moves one package; without arguments every pin is re-resolved.
    """
    session.install("uv")
    upgrade = [] if session.posargs else ["--upgrade"]
    for extras in LOCKED_EXTRAS:
        extra = [] if extras == "node" else ["--extra", extras]
        session.run(
            "uv", "pip", "compile", "pyproject.toml", *extra, "--universal", "--python-version",
            PYTHON, "--generate-hashes", "--quiet", "--no-header", *upgrade,
            "--custom-compile-command", "nox -s lock", "-o", str(LOCKS / f"{extras}.txt"),
            *session.posargs,
        )  # fmt: skip


SYSTEM_TOOLS = {"chromium": ("chromium", "fonts-dejavu-core")}
"""Debian packages the suite drives, by the command that shows they are there: headless
Chromium renders run reports in a browser test."""


def ensure_system_tools(session: nox.Session) -> None:
    """apt-get what is missing (as root on Debian); elsewhere the tests that need it skip."""
    missing = [p for tool, pkgs in SYSTEM_TOOLS.items() if shutil.which(tool) is None for p in pkgs]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.warn(f"not installing {missing}: needs root and apt-get; their tests will skip")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(
        "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
        external=True, env=env,
    )  # fmt: skip


def pytest_args(session: nox.Session, *default: str) -> list[str]:
    """Shared pytest options: parallel, and the caller's args (or the defaults) after them."""
    workers = os.environ.get("PYTEST_WORKERS", "auto")
    return ["-n", workers, *(session.posargs or default)]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CI suite: everything except tests marked `slow`."""
    ensure_system_tools(session)
    install(session)
    session.run("pytest", *pytest_args(session, "-m", "not slow"))


@nox.session(python=PYTHON, default=False)
def slow(session: nox.Session) -> None:
    """Only the long tests (big simulations, long fault schedules)."""
    install(session)
    session.run("pytest", *pytest_args(session, "-m", "slow"))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict on the Raft core and the checker)."""
    install(session, "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "aspen", "lab")


@nox.session(python=PYTHON, default=False)
def sim(session: nox.Session) -> None:
    """Deterministic simulation: `-- --seed N --steps M` replays a run; `-- --bench` benchmarks."""
    install(session)
    session.run("python", "-m", "aspen.sim", *session.posargs)


@nox.session(name="checker-bench", python=PYTHON, default=False)
def checker_bench(session: nox.Session) -> None:
    """Linearizability checker speed and memory against Porcupine (run on the same files when
    Go is there); prints the ratio per class and writes JSON."""
    ensure_go(session)
    install(session)
    session.run("python", "-m", "lab.checker.bench", *session.posargs)


def ensure_go(session: nox.Session) -> None:
    """apt-get Debian's golang-go when `go` is missing (as root), for the Porcupine oracle."""
    if shutil.which("go") is not None:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.warn("no Go toolchain and no root apt-get: the oracle tests will skip")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "golang-go", external=True, env=env)


@nox.session(name="checker-oracle", python=PYTHON, default=False)
def checker_oracle(session: nox.Session) -> None:
    """Differential tests against the real Porcupine: 10,000 generated histories, valid and
    mutated, checked by both (set ORACLE_HISTORIES to change the count)."""
    ensure_go(session)
    install(session)
    env = {"ORACLE_HISTORIES": os.environ.get("ORACLE_HISTORIES", "10000")}
    session.run(
        "pytest", "-x", "tests/checker/test_oracle.py", *session.posargs,
        env=env,
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def chaos(session: nox.Session) -> None:
    """Chaos runs against a local Aspen cluster; `-- --scenario partition --seed 7` for one.

    Without arguments: every scenario at CI size. Exits non-zero when any verdict is not valid.
    """
    install(session, "lab")
    session.run("aspen-lab", "chaos", *session.posargs)


@nox.session(name="docker-build", python=PYTHON, default=False)
def docker_build(session: nox.Session) -> None:
    """The node image `aspen-node:<content hash>`, built only if this tree has none.

    `-- --force` rebuilds (and re-resolves the dependency wheels); `-- --base IMAGE` picks the
    base (default python:3.11-slim, else the debootstrap `aspen-base` from docker/base/build.sh).
    Prints the tag, the time taken and the image size.
    """
    install(session, "lab")
    session.run("python", "-m", "lab.runtime.images", *session.posargs)


@nox.session(python=PYTHON, default=False)
def load(session: nox.Session) -> None:
    """YCSB-style load against a local 3-node cluster: `aspen-lab load` with the posargs.

    `-- --workloads A,C --mode open --rate 500`, `-- --mode ramp --ramp 200:200:4000`,
    `-- --save-baseline base.json`, then `-- --baseline base.json` (exits 1 on a failed gate).
    Results and report.html land in `store/load/<timestamp>/`.
    """
    install(session, "lab")
    session.run("aspen-lab", "load", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Put and linearizable-get throughput and latency at 1/16/32/64 clients on 3-node Aspen.

    `-- --vs etcd` also measures a 3-node etcd in the same run (installing Debian's
    `etcd-server` with apt-get when `etcd` is not on PATH) and prints the Aspen/etcd ratios.
    Writes `bench-results/bench.json`.
    """
    import shutil

    install(session, "lab")
    if any("etcd" in arg for arg in session.posargs) and shutil.which("etcd") is None:
        session.run("apt-get", "update", external=True)
        session.run("apt-get", "install", "-y", "etcd-server", external=True)
    session.run("python", "-m", "lab.load.bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def soak(session: nox.Session) -> None:
    """Hours of steady load and periodic faults on one local cluster: `aspen-lab soak`.

    Default CI size (2 minutes); `-- --duration 8h` is the nightly soak, `-- --window 2m`,
    `-- --scenario partition`, `-- --rate 200`. Each window is checked on its own; RSS, fds,
    threads, p99 and the data directory are watched for leaks and drift. Results, resources
    and report.html land in `store/soak/<timestamp>/`; exits 1 on any invalid window or failed
    leak check.
    """
    install(session, "lab")
    # Ctrl-C reaches the soak too: give it time to heal, check what ran and write the report.
    session.run(
        "aspen-lab", "soak", *session.posargs, interrupt_timeout=600.0, terminate_timeout=30.0
    )
