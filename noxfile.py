"""Every way to build, test, benchmark and exercise Aspen.

`nox -s tests` is what CI runs (through `.ci/run`). Long sessions (`chaos`, `soak`, `load`,
benchmarks) are `default=False` and pass `session.posargs` through to the program they run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]

LONG_RUN = {"interrupt_timeout": 600.0, "terminate_timeout": 30.0}
"""For commands that stop cleanly on a signal (see lab/interrupt.py): Ctrl-C reaches them from
the terminal; nox then waits for them to heal, stop their nodes and write their report instead
of cutting them off after its default 0.3 s. A second signal (nox's SIGTERM after the wait)
makes them skip the checks; they still stop what they started."""


def _forward_sigterm(signum: int, _frame: object) -> None:
    """nox itself dies on SIGTERM (`timeout`, CI runners) and leaves the command it runs going:
    pass the signal on to our process group (the command) and wait for it as for Ctrl-C."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(os.getpgid(0), signal.SIGTERM)
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _forward_sigterm)
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


SYSTEM_TOOLS = {
    "chromium": ("chromium", "fonts-dejavu-core"),
    "etcd": ("etcd-server",),
    "nft": ("nftables",),
}
"""Debian packages the suite drives, by the command that shows they are there: headless
Chromium renders run reports in a browser test; etcd (cut by nftables in per-node network
namespaces) is the system the lab judges beside Aspen."""


def ensure_system_tools(session: nox.Session) -> None:
    """apt-get what is missing, Go for the differential tests too (as root on Debian); elsewhere
    the tests that need it skip and say why."""
    missing = [p for tool, pkgs in SYSTEM_TOOLS.items() if shutil.which(tool) is None for p in pkgs]
    apt_install(session, missing + missing_go(), "their tests will skip")


def apt_install(session: nox.Session, packages: list[str], otherwise: str) -> None:
    """apt-get ``packages`` (as root on Debian); elsewhere warn and say what follows."""
    if not packages:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.warn(f"not installing {packages}: needs root and apt-get; {otherwise}")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(
        "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages,
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


@nox.session(name="tests-latest", python=PYTHON, default=False)
def tests_latest(session: nox.Session) -> None:
    """The CI suite against the newest releases, no lock: drift seen before it is suffered.

    Prints every package whose newest version differs from `requirements/test.txt` (and writes
    them to `bench-results/drift.json`) before running the tests, so a failure names its
    suspects. The nightly workflow runs it; `nox -s lock` then moves the pins.
    """
    ensure_system_tools(session)
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]")
    listing = session.run("python", "-m", "pip", "list", "--format=json", silent=True)
    installed = {_canonical(p["name"]): p["version"] for p in json.loads(str(listing))}
    moved = drift(locked_versions(LOCKS / "test.txt"), installed)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "drift.json").write_text(json.dumps(moved, indent=2) + "\n")
    if moved:
        session.log(f"{len(moved)} packages differ from the lock:")
        for m in moved:
            session.log(f"  {m['package']}: locked {m['locked'] or '-'}, now {m['installed']}")
    else:
        session.log("no package differs from the lock")
    session.run("pytest", *pytest_args(session, "-m", "not slow"))


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """Package -> the versions a lock pins (a universal lock may pin one per Python)."""
    pins: dict[str, set[str]] = {}
    for line in lock.read_text().splitlines():
        if m := _PIN.match(line):
            pins.setdefault(_canonical(m[1]), set()).add(m[2])
    return pins


def drift(locked: dict[str, set[str]], installed: dict[str, str]) -> list[dict[str, str]]:
    """Installed packages whose version the lock does not pin (or that it does not hold)."""
    tooling = {"pip", "setuptools", "wheel", "aspen"}
    return [
        {"package": name, "locked": ", ".join(sorted(locked.get(name, ()))), "installed": version}
        for name, version in sorted(installed.items())
        if name not in tooling and version not in locked.get(name, set())
    ]


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
    """Deterministic simulation: `-- --seed N --steps M` replays a run; `-- --seeds 1-10000`
    runs seeds on all cores and prints a summary with replay commands; `-- --bench` benchmarks."""
    install(session)
    session.run("python", "-m", "aspen.sim", *session.posargs)


@nox.session(name="checker-bench", python=PYTHON, default=False)
def checker_bench(session: nox.Session) -> None:
    """Linearizability checker speed and memory against Porcupine (run on the same files when
    Go is there); prints the ratio per class and writes JSON."""
    ensure_go(session)
    install(session)
    session.run("python", "-m", "lab.checker.bench", *session.posargs)


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
    `-- --db etcd` runs them against a 3-node etcd (installing Debian's `etcd-server` with
    apt-get when `etcd` is not on PATH); `-- --db adapter.toml` against your own system.
    """
    install(session, "lab")
    if _db_arg(session.posargs) == "etcd" and shutil.which("etcd") is None:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", "etcd-server", external=True, env=env)
    session.run("aspen-lab", "chaos", *session.posargs, **LONG_RUN)


def _db_arg(args: list[str]) -> str | None:
    """The value of ``--db`` (``--db X`` or ``--db=X``) among the session's arguments."""
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg.split("=", 1)[1]
    return None


@nox.session(name="docker-build", python=PYTHON, default=False)
def docker_build(session: nox.Session) -> None:
    """The node image `aspen-node:<content hash>`, built only if this tree has none.

    `-- --force` rebuilds (and re-resolves the dependency wheels); `-- --base IMAGE` picks the
    base (default python:3.11-slim, else the debootstrap `aspen-base` from docker/base/build.sh).
    Prints the tag, the time taken and the image size.
    """
    install(session, "lab")
    session.run("python", "-m", "lab.runtime.images", *session.posargs, **LONG_RUN)


@nox.session(python=PYTHON, default=False)
def load(session: nox.Session) -> None:
    """YCSB-style load against a local 3-node cluster: `aspen-lab load` with the posargs.

    `-- --workloads A,C --mode open --rate 500`, `-- --mode ramp --ramp 200:200:4000`,
    `-- --save-baseline base.json`, then `-- --baseline base.json` (exits 1 on a failed gate).
    Results and report.html land in `store/load/<timestamp>/`.
    """
    install(session, "lab")
    session.run("aspen-lab", "load", *session.posargs, **LONG_RUN)


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
    session.run("python", "-m", "lab.load.bench", *session.posargs, **LONG_RUN)


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
    session.run("aspen-lab", "soak", *session.posargs, **LONG_RUN)


GO_PACKAGES = (
    "golang-go", "golang-github-gorilla-mux-dev", "golang-github-rs-zerolog-dev",
    "golang-gopkg-tomb.v1-dev", "golang-github-prometheus-client-golang-dev",
)  # fmt: skip
"""What `shared/tools/toxiproxy-server/build.sh` needs to build the real Toxiproxy offline."""


def ensure_go(session: nox.Session) -> None:
    """apt-get Go and the Go libraries the shared build scripts need (the real Toxiproxy, the
    Porcupine oracle), as root on Debian; else warn, and what needs them skips."""
    apt_install(session, missing_go(), "what needs Go (the real Toxiproxy, the oracle) skips")


def missing_go() -> list[str]:
    """The `GO_PACKAGES` not installed."""
    return [p for p in GO_PACKAGES if not Path(f"/usr/share/doc/{p}").exists()]


@nox.session(name="proxy-bench", python=PYTHON, default=False)
def proxy_bench(session: nox.Session) -> None:
    """Latency (64 B echo, p50/p99) and bulk throughput through our Toxiproxy and the real one.

    The direct path, our server (its own process) and the real Toxiproxy (built offline by
    `shared/tools/toxiproxy-server/build.sh`; Go is installed with apt-get when missing) are
    measured side by side in the same run, without and with a toxic. `-- --round-trips N
    --megabytes M --rounds R`. Prints a table and writes `bench-results/proxy.json`.
    """
    ensure_go(session)
    install(session, "lab")
    session.run("python", "-m", "lab.toxiproxy.bench", *session.posargs)


@nox.session(name="toxiproxy-conformance", python=PYTHON, default=False)
def toxiproxy_conformance(session: nox.Session) -> None:
    """The same API calls and byte streams against our Toxiproxy and the real one (built by
    `shared/tools/toxiproxy-server/build.sh`; Go is installed with apt-get when missing)."""
    ensure_go(session)
    install(session)
    session.run("pytest", "-rs", "tests/toxiproxy/test_conformance.py", *session.posargs)
