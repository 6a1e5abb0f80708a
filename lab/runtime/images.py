"""The node image the Docker runtime starts containers from: found by content, built if missing.

``ensure_image(project_root)`` returns ``aspen-node:<hash>``, where the hash covers everything
that goes into the image: the working-tree content of the project's source files (``aspen/``,
``lab/``, ``pyproject.toml``, ``README.md``, ``docker/``, as ``git ls-files`` lists them, untracked
but not ignored files included), the base image's id and the extras installed. An unchanged
tree is a cache hit that costs a few ``docker inspect``s and a copy of the sources; anything else
builds:

1. the base: ``BASE`` (default ``python:3.11-slim``, or ``$ASPEN_BASE_IMAGE``) if it is local.
   Otherwise the debootstrap base ``aspen-base:<tag>`` from ``docker/base/build.sh`` if it is
   local (no pull is tried then, so an engine without a registry never waits on one), then a
   pull bounded by ``PULL_TIMEOUT``, and last a fresh ``docker/base/build.sh`` (about a minute);
2. a wheelhouse on the host: the project's wheel, built from the very snapshot of the files that
   was hashed (so neither a colleague's edit meanwhile nor a stale ``build/`` leaks into it),
   stamped with the git commit, and its ``[lab]`` dependencies' wheels, exactly the pins of
   ``requirements/lab.txt`` (hashes checked), fetched once per lock and kept in
   ``~/.cache/aspen/wheelhouse`` (``--force`` fetches them again). The two are kept apart so
   the dependency layers stay cached;
3. ``docker/Dockerfile`` with a temporary build context holding only the Dockerfile and the
   wheels: no network is needed during the build.

The image is tagged ``aspen-node:<hash>`` and ``aspen-node:latest`` (after a build, all but the
``KEEP_NODE_IMAGES`` newest ``aspen-node:<hash>`` tags are removed), and carries the labels
``org.opencontainers.image.version`` (pyproject's version), ``org.opencontainers.image.revision``
(the git commit the first build with this content was made at) and ``aspen.content-hash``.

Inside the image, ``$ASPEN_FAKETIME_LIB`` (also the label ``aspen.faketime-lib``) is the path of
the PyPI ``libfaketime`` build of ``libfaketime.so.1`` for clock-skew faults, used with
``FAKETIME_DONT_FAKE_MONOTONIC=1``.

``python -m lab.runtime.images [--force] [--base IMAGE] [--etcd]`` prints the tag (with
``--etcd``, of the etcd image built on the node image), the time taken and the image size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

# `docker.client.from_env`, not `docker.from_env`: run from the project root, mypy takes the
# repository's docker/ folder for a namespace package named `docker`.
import docker.client
import docker.errors
import requests

from aspen.errors import AspenError
from aspen.version import checkout_commit
from lab.runtime.machine_lock import machine_lock

NODE_REPO = "aspen-node"
BASE_REPO = "aspen-base"
DEFAULT_BASE = "python:3.11-slim"
EXTRAS = "lab"
LOCK = Path("requirements") / f"{EXTRAS}.txt"
PULL_TIMEOUT = 30.0
KEEP_NODE_IMAGES = 5  # older aspen-node:<hash> images are removed after a build
BUILD_TIMEOUT = 1800.0
HEARTBEAT_S = 20.0
# What goes into the image, relative to the project root: the packages, their metadata (the
# wheel reads README.md), the dependency lock and how the image is built.
HASHED_PATHS = ("aspen", "lab", "pyproject.toml", "setup.py", "README.md", "docker", "requirements")
# Never part of the image, when there is no git to apply .gitignore.
_UNHASHED_PARTS = frozenset({"__pycache__", "wheelhouse", ".mypy_cache", ".pytest_cache"})
# Bump when the way the image is built changes in a way the hashed files do not show.
_HASH_SCHEME = "aspen-node-image/2"  # 2: dependencies from the lock

LABEL_VERSION = "org.opencontainers.image.version"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_CONTENT_HASH = "aspen.content-hash"
LABEL_TITLE = "org.opencontainers.image.title"
FAKETIME_LIB = (
    "/opt/aspen/venv/lib/python3.11/site-packages/libfaketime/vendor/libfaketime/src/"
    "libfaketime.so.1"
)

Log = Callable[[str], object]


class ImageBuildError(AspenError):
    """The node image (or its base, or its wheelhouse) could not be built."""


def ensure_image(
    project_root: Path, *, base: str | None = None, force: bool = False, log: Log = print
) -> str:
    """Return ``aspen-node:<hash>`` for the project at ``project_root``, building it if missing.

    ``base`` overrides the base image (default ``$ASPEN_BASE_IMAGE`` or ``python:3.11-slim``;
    ``aspen-base`` means the debootstrap base); ``force`` rebuilds even on a cache hit and
    resolves the dependencies' wheels again (Docker's layer cache still applies). Builds are
    serialised machine-wide by a lock file, so parallel callers build once and the others get
    the cache hit. Raises ``ImageBuildError``.
    """
    project_root = project_root.resolve()
    if not (project_root / "docker" / "Dockerfile").is_file():
        raise ImageBuildError(f"{project_root} has no docker/Dockerfile")
    try:
        with (
            docker_client() as client,
            build_lock(),
            tempfile.TemporaryDirectory(prefix="aspen-image-") as tmp,
        ):
            # Hash and build the same bytes, however the tree changes meanwhile.
            src = Path(tmp) / "src"
            files = snapshot_sources(project_root, src)
            base_ref, base_id = _resolve_base(client, src, base, log)
            digest = content_hash(src, base_id=base_id, files=files)
            tag = f"{NODE_REPO}:{digest}"
            if not force and image_id(client, tag) is not None:
                log(f"{tag} is up to date (cache hit)")
            else:
                revision = checkout_commit(project_root)
                context = Path(tmp) / "context"
                deps_key = _stage_key(src, base_id)
                _build_node(client, src, context, base_ref, digest, revision, deps_key, force, log)
                prune_tags(client, keep=KEEP_NODE_IMAGES, current=tag, log=log)
                _prune_untagged(client, deps_key=deps_key, log=log)
            client.api.tag(tag, NODE_REPO, "latest")
            return tag
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise ImageBuildError(f"Docker: {e}") from e


def content_hash(project_root: Path, *, base_id: str, files: Sequence[str] | None = None) -> str:
    """The 16-hex-digit identity of the image that this tree and this base image make.

    ``files`` (relative paths) defaults to ``source_files(project_root, HASHED_PATHS)``.
    """
    h = hashlib.sha256()
    for part in (_HASH_SCHEME, base_id, EXTRAS):
        h.update(part.encode() + b"\0")
    for rel in source_files(project_root, HASHED_PATHS) if files is None else sorted(files):
        path = project_root / rel
        data = path.read_bytes()
        executable = os.access(path, os.X_OK)
        h.update(f"{rel}\0{int(executable)}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def source_files(project_root: Path, paths: tuple[str, ...]) -> list[str]:
    """Files under ``paths`` that exist in the working tree, sorted, relative and POSIX-style.

    From ``git ls-files --cached --others --exclude-standard`` (so new, not yet committed files
    count and ignored ones do not); a walk skipping caches when the root is not a git work tree.
    """
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
            cwd=project_root,
            capture_output=True,
            check=True,
        ).stdout
        listed = {name.decode() for name in out.split(b"\0") if name}
    except (OSError, subprocess.CalledProcessError):
        listed = set()
        for top in paths:
            start = project_root / top
            candidates = [start] if start.is_file() else start.rglob("*")
            for path in candidates:
                rel = path.relative_to(project_root)
                skipped = _UNHASHED_PARTS.intersection(rel.parts) or path.suffix == ".pyc"
                if path.is_file() and not skipped:
                    listed.add(rel.as_posix())
    return sorted(rel for rel in listed if (project_root / rel).is_file())


def snapshot_sources(project_root: Path, dest: Path) -> list[str]:
    """Copy the hashed files (with their modes) to ``dest``; return their relative paths."""
    files = source_files(project_root, HASHED_PATHS)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project_root / rel, dest / rel)
    return files


@contextmanager
def docker_client(timeout: float = BUILD_TIMEOUT) -> Iterator[Any]:
    """A Docker client that has answered a ping, closed on exit."""
    try:
        client = docker.client.from_env(timeout=int(timeout))
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise ImageBuildError(f"no Docker engine answers: {e}") from e
    try:
        try:
            client.ping()
        except (docker.errors.DockerException, requests.RequestException) as e:
            raise ImageBuildError(f"no Docker engine answers: {e}") from e
        yield client
    finally:
        client.close()


def image_id(client: Any, ref: str) -> str | None:
    try:
        return str(client.api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def build_lock() -> AbstractContextManager[None]:
    """Image builds, one at a time on this machine."""
    return machine_lock("aspen-images.lock")


def _prune_untagged(client: Any, *, deps_key: str, log: Log) -> None:
    """Remove what earlier builds left untagged: node images whose tag moved on (``--force``)
    and dependency stages of another lock or base (``aspen.deps-key``). The current
    dependency stage stays: it is the layer cache of the next build."""
    freed = 0
    for image in client.api.images(filters={"dangling": True}):
        labels = image.get("Labels") or {}
        # Every stage inherits the base's labels: a node image is told by its own title.
        ours = labels.get(LABEL_TITLE) == NODE_REPO or (
            labels.get("aspen.stage") == "deps" and labels.get("aspen.deps-key") != deps_key
        )
        if not ours:
            continue
        try:
            client.api.remove_image(image["Id"])
        except docker.errors.APIError:  # a container or a child image still uses it
            continue
        freed += int(image.get("Size") or 0)
        log(f"removed the untagged image {image['Id'][7:19]} ({image.get('Size', 0) >> 20} MiB)")
    if freed:
        log(f"pruned {freed >> 20} MiB of untagged images")


def prune_tags(client: Any, *, keep: int, current: str, log: Log, repo: str = NODE_REPO) -> None:
    """Untag all but the ``keep`` newest ``repo`` images and ``current``; ones in use are kept."""
    found = client.api.images(name=repo)
    found.sort(key=lambda image: image["Created"], reverse=True)
    for image in found[keep:]:
        for ref in image.get("RepoTags") or []:
            if ref == current or ref.endswith(":latest"):
                continue
            try:
                client.api.remove_image(ref)
            except docker.errors.APIError as e:  # in use by a container: keep it
                log(f"keeping {ref}: {e.explanation or e}")
            else:
                log(f"removed the old image {ref}")


def _resolve_base(client: Any, project_root: Path, base: str | None, log: Log) -> tuple[str, str]:
    """The base image to build on, as (reference, image id); builds aspen-base if it must."""
    wanted = base or os.environ.get("ASPEN_BASE_IMAGE") or DEFAULT_BASE
    script = project_root / "docker" / "base" / "build.sh"
    local_base = _run_base_script(script, "--print-tag")
    if wanted == BASE_REPO:
        wanted = local_base
    found = image_id(client, wanted)
    if found is not None:
        return wanted, found
    if wanted != local_base:
        found = image_id(client, local_base)
        if found is not None:
            log(f"{wanted} is not here; using {local_base} without trying a pull")
            return local_base, found
        if _try_pull(wanted, log):
            found = image_id(client, wanted)
            if found is not None:
                return wanted, found
    log(f"building {local_base} with docker/base/build.sh (about a minute)")
    started = time.monotonic()
    built = _run_base_script(script, log=log)
    log(f"built {built} in {time.monotonic() - started:.0f} s")
    found = image_id(client, built)
    if found is None:
        raise ImageBuildError(f"docker/base/build.sh reported {built}, which does not exist")
    return built, found


def _try_pull(ref: str, log: Log) -> bool:
    log(f"{ref} is not here; trying to pull it (at most {PULL_TIMEOUT:.0f} s)")
    try:
        with docker_client(PULL_TIMEOUT) as client:
            client.images.pull(ref)
    except (docker.errors.DockerException, requests.RequestException, ImageBuildError) as e:
        log(f"cannot pull {ref}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return False
    return True


def _run_base_script(script: Path, *args: str, log: Log | None = None) -> str:
    """Run build.sh; its progress (stderr) goes to ``log``, its last stdout line is returned."""
    with subprocess.Popen(
        ["bash", str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None and proc.stdout is not None
        errors = []
        for line in proc.stderr:
            errors.append(line.rstrip())
            if log is not None:
                log(line.rstrip())
        out = proc.stdout.read().split()
    if proc.returncode != 0 or not out:
        detail = "\n".join(errors[-20:])
        raise ImageBuildError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{detail}")
    return out[-1]


def _build_node(
    client: Any,
    src: Path,
    context: Path,
    base_ref: str,
    digest: str,
    revision: str,
    deps_key: str,
    refresh: bool,
    log: Log,
) -> None:
    """Build ``aspen-node:<digest>`` from the snapshot ``src``, in the build context ``context``;
    ``deps_key`` labels its dependency stage (see `_prune_untagged`)."""
    tag = f"{NODE_REPO}:{digest}"
    log(f"building {tag} on {base_ref}")
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(src / "docker" / name, context / name)
    started = time.monotonic()
    build_wheelhouse(src, context / "wheelhouse", refresh=refresh, revision=revision, log=log)
    log(f"wheelhouse built in {time.monotonic() - started:.0f} s")
    buildargs = {
        "BASE": base_ref,
        "DEPS_KEY": deps_key,
        "VERSION": project_version(src),
        "REVISION": revision,
        "CONTENT_HASH": digest,
        "CREATED": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    stream_build(client, context, tag, buildargs, log)


def stream_build(client: Any, context: Path, tag: str, buildargs: dict[str, str], log: Log) -> None:
    """``docker build`` of ``context`` as ``tag``, each step logged as it starts and a line
    every `HEARTBEAT_S` while one runs; ImageBuildError with the output's tail on failure."""
    started = time.monotonic()
    output: list[str] = []
    heartbeat = _Heartbeat(log, started)
    try:
        for chunk in client.api.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        ):
            if "error" in chunk:
                detail = "\n".join(output[-30:])
                raise ImageBuildError(f"docker build failed: {chunk['error']}\n{detail}")
            for line in str(chunk.get("stream", "")).splitlines():
                output.append(line)
                if line.startswith("Step "):
                    heartbeat.step = line.split(":", 1)[0].strip()
                    log(line if len(line) <= 100 else line[:97] + "...")
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise ImageBuildError(f"docker build failed: {e}") from e
    finally:
        heartbeat.stop()
    log(f"docker build took {time.monotonic() - started:.0f} s")


class _Heartbeat:
    """A line every `HEARTBEAT_S` while one build step runs (installing the dependencies
    prints nothing for minutes on a cold build), so a build never looks hung."""

    def __init__(self, log: Log, started: float) -> None:
        self.step = "starting"
        self._log, self._started = log, started
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="build-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(HEARTBEAT_S):
            elapsed = time.monotonic() - self._started
            self._log(f"  ... still building ({self.step}, {elapsed:.0f} s)")

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _stage_key(src: Path, base_id: str) -> str:
    """What the dependency stage is made of: the lock and the base image."""
    h = hashlib.sha256((src / LOCK).read_bytes())
    h.update(base_id.encode())
    return h.hexdigest()[:16]


def build_wheelhouse(
    src: Path,
    wheelhouse: Path,
    *,
    refresh: bool = False,
    revision: str = "",
    log: Log = print,
) -> None:
    """Wheels for the project (``project/``) and its ``[lab]`` dependencies (``deps/``).

    ``src`` is a snapshot of the source files (``snapshot_sources``), never the working tree,
    whose ``build/`` may hold modules that no longer exist; the project's wheel is stamped
    with ``revision`` (``aspen --version`` prints it). The dependencies are exactly the pins
    of ``requirements/lab.txt`` (hashes checked), fetched once per lock and kept in a cache on
    the host (``$ASPEN_WHEEL_CACHE``, default ``~/.cache/aspen/wheelhouse``); ``refresh``
    fetches them again.
    """
    if sys.version_info[:2] != (3, 11):
        raise ImageBuildError(
            f"the image's Python is 3.11; build the wheelhouse with Python 3.11, not {sys.version}"
        )
    stamp = {"ASPEN_BUILD_COMMIT": revision} if revision and revision != "unknown" else {}
    _pip_wheel("--no-deps", "-w", str(wheelhouse / "project"), str(src), env=stamp)
    cache = _wheel_cache_dir() / _deps_key(src)
    if refresh or not cache.is_dir():
        log(f"fetching the locked [{EXTRAS}] dependencies into {cache}")
        fresh = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=cache.parent))
        try:
            lock = src / LOCK
            _pip_wheel("--require-hashes", "--no-deps", "-w", str(fresh), "-r", str(lock))
            if cache.exists():
                shutil.rmtree(cache)
            fresh.rename(cache)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(cache, wheelhouse / "deps")


def _pip_wheel(*args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise ImageBuildError(f"pip wheel failed:\n{result.stdout}{result.stderr}")


def _wheel_cache_dir() -> Path:
    configured = os.environ.get("ASPEN_WHEEL_CACHE")
    if configured:
        path = Path(configured)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = path / "aspen" / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _deps_key(project_root: Path) -> str:
    """What the fetched dependency set depends on: the lock, Python, the machine."""
    h = hashlib.sha256((project_root / LOCK).read_bytes())
    h.update(f"\0{EXTRAS}\0{sys.implementation.cache_tag}\0{os.uname().machine}".encode())
    return h.hexdigest()[:16]


def project_version(project_root: Path) -> str:
    with (project_root / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.runtime.images",
        description="Build the Aspen node image if this tree has none; print its tag.",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    parser.add_argument(
        "--base",
        help=f"base image (default $ASPEN_BASE_IMAGE or {DEFAULT_BASE}; "
        f"'{BASE_REPO}' for the debootstrap one)",
    )
    parser.add_argument(
        "--project-root", type=Path, default=Path.cwd(), help="default: the current directory"
    )
    parser.add_argument(
        "--etcd",
        action="store_true",
        help="also build the etcd image on it (aspen-etcd:<hash>, lab.runtime.etcd_image)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        tag = ensure_image(args.project_root, base=args.base, force=args.force)
        if args.etcd:
            from lab.runtime.etcd_image import ensure_etcd_image

            tag = ensure_etcd_image(args.project_root)
        with docker_client() as client:
            size = client.api.inspect_image(tag)["Size"]
    except ImageBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"image: {tag}")
    print(f"time:  {time.monotonic() - started:.1f} s")
    print(f"size:  {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
