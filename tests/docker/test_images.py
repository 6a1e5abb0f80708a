"""lab.runtime.images: the content hash, and (with a Docker engine) the node image it names.

The Docker tests build from a frozen copy of the project's source files in a fresh git
repository, so that colleagues editing the real tree meanwhile cannot turn the second call's
cache hit into a rebuild. The first build on a machine without the images takes a few minutes
(base about 1 min, node about 2); later runs are cache hits. Images are kept (they are the
cache); every container the tests create carries ``aspen.test=1`` and is removed.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker.client
import docker.errors
import pytest

from lab.runtime import images

ROOT = Path(__file__).resolve().parents[2]
SESSION = uuid.uuid4().hex[:12]
TEST_LABELS = {"aspen.test": "1", "aspen.test.session": SESSION}
BUILD_TIMEOUT = 1200  # a cold build: debootstrap base, wheelhouse, node image

docker_test = pytest.mark.docker


def copy_project(dest: Path, *, source: Path = ROOT) -> Path:
    """The files the image hash covers, copied to ``dest`` and committed in a new repository."""
    for rel in images.source_files(source, images.HASHED_PATHS):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / rel)
    commit_all(dest, init=True)
    return dest


def commit_all(repo: Path, *, init: bool = False) -> None:
    git = ["git", "-c", "user.name=aspen-test", "-c", "user.email=test@aspen.invalid"]
    if init:
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=repo, check=True)


# --- the content hash (no Docker needed) -------------------------------------------------------


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    for rel, text in {
        "aspen/__init__.py": "",
        "lab/__init__.py": "",
        "pyproject.toml": "[project]\nname = 'aspen'\nversion = '0.1.0'\n",
        "README.md": "readme\n",
        "docker/Dockerfile": "FROM scratch\n",
        "docker/base/build.sh": "#!/bin/sh\n",
        "tests/test_x.py": "",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "docker/base/build.sh").chmod(0o755)
    (tmp_path / ".gitignore").write_text("__pycache__/\n/docker/wheelhouse/\n")
    commit_all(tmp_path, init=True)
    return tmp_path


def test_hash_is_stable_and_covers_only_the_image_inputs(small_project: Path) -> None:
    first = images.content_hash(small_project, base_id="sha256:base")
    (small_project / "tests/test_x.py").write_text("changed = True\n")
    (small_project / "aspen/__pycache__").mkdir()
    (small_project / "aspen/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    (small_project / "docker/wheelhouse").mkdir()
    (small_project / "docker/wheelhouse/x.whl").write_bytes(b"\0")
    assert images.content_hash(small_project, base_id="sha256:base") == first


@pytest.mark.parametrize(
    "change",
    ["edit", "untracked", "delete", "chmod", "base"],
)
def test_hash_changes_with_any_input(small_project: Path, change: str) -> None:
    base_id = "sha256:base"
    before = images.content_hash(small_project, base_id=base_id)
    if change == "edit":
        (small_project / "aspen/__init__.py").write_text("x = 1\n")
    elif change == "untracked":  # a colleague's new module, not yet committed
        (small_project / "lab/new.py").write_text("")
    elif change == "delete":
        (small_project / "README.md").unlink()
    elif change == "chmod":
        (small_project / "docker/base/build.sh").chmod(0o644)
    else:
        base_id = "sha256:other"
    assert images.content_hash(small_project, base_id=base_id) != before


def test_hash_without_git_matches_the_git_listing(small_project: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    for rel in images.source_files(small_project, images.HASHED_PATHS):
        (plain / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(small_project / rel, plain / rel)
    (plain / "aspen/__pycache__").mkdir()
    (plain / "aspen/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    assert images.content_hash(plain, base_id="b") == images.content_hash(
        small_project, base_id="b"
    )


# --- the image (needs a Docker engine) ---------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    client = docker.client.from_env(timeout=600)
    yield client
    client.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("project"))


@contextmanager
def one_docker_test_at_a_time() -> Iterator[None]:
    """Across pytest-xdist workers: ``aspen-node:latest`` is shared, so its checks must not race."""
    with (Path(tempfile.gettempdir()) / "aspen-docker-tests.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def image(project: Path) -> str:
    with one_docker_test_at_a_time():
        started = time.monotonic()
        tag = images.ensure_image(project)
        print(f"ensure_image: {tag} in {time.monotonic() - started:.0f} s")
    return tag


@pytest.fixture(autouse=True)
def isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Docker test runs alone and leaves no container, network or volume of its own behind."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    with one_docker_test_at_a_time():
        yield
        assert_nothing_left()


def assert_nothing_left() -> None:
    """No ``aspen.test=1`` container, network or volume exists (Docker tests run one at a time)."""
    filters = {"label": "aspen.test=1"}
    client = docker.client.from_env(timeout=60)
    try:
        containers = client.containers.list(all=True, filters=filters)
        networks = client.networks.list(filters=filters)
        volumes = client.volumes.list(filters=filters)
        for container in containers:
            container.remove(force=True)
        for network in networks:
            network.remove()
        for volume in volumes:
            volume.remove(force=True)
    finally:
        client.close()
    assert not (containers or networks or volumes), f"left: {containers} {networks} {volumes}"


def run(client: Any, tag: str, command: list[str], **env: str) -> tuple[int, str]:
    """Run ``command`` in a new container of ``tag``; return its exit code and output."""
    container = client.containers.create(tag, command, environment=env, labels=TEST_LABELS)
    try:
        container.start()
        status = container.wait(timeout=120)
        return int(status["StatusCode"]), container.logs().decode()
    finally:
        container.remove(force=True)


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_second_call_is_a_cache_hit(image: str, project: Path, client: Any) -> None:
    assert image.startswith(f"{images.NODE_REPO}:")
    log: list[str] = []
    started = time.monotonic()
    assert images.ensure_image(project, log=log.append) == image
    elapsed = time.monotonic() - started
    assert any("cache hit" in line for line in log), log
    assert not any(line.startswith("building") for line in log), log
    assert elapsed < 15, f"a cache hit took {elapsed:.1f} s"
    latest = client.api.inspect_image(f"{images.NODE_REPO}:latest")["Id"]
    assert latest == client.api.inspect_image(image)["Id"]


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_image_labels(image: str, project: Path, client: Any) -> None:
    config = client.api.inspect_image(image)["Config"]
    labels = config["Labels"]
    assert labels[images.LABEL_VERSION] == images.project_version(project)
    # The commit of the first build of this content: this copy's, or another with the same files.
    assert re.fullmatch("[0-9a-f]{40}", labels[images.LABEL_REVISION]), labels
    assert labels[images.LABEL_CONTENT_HASH] == image.split(":", 1)[1]
    assert labels["aspen.faketime-lib"] == images.FAKETIME_LIB
    assert labels["org.opencontainers.image.title"] == "aspen-node"  # not the base's
    assert labels["org.opencontainers.image.created"].startswith("20")
    assert config["Cmd"] == ["aspen-node"]
    assert not config.get("Volumes"), "a VOLUME would leave a volume behind every container"


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_container_has_the_project_its_dependencies_and_the_fault_tools(
    image: str, client: Any
) -> None:
    script = (
        "set -e; python -c 'import aspen.raft, aspen.kv, lmdb, aiohttp, libfaketime'; "
        "nft --version; ip -V; ps --version; test -x /opt/aspen/venv/bin/aspen-node; "
        'test -f "$ASPEN_FAKETIME_LIB"; python -c "import sys; print(sys.version)"'
    )
    code, output = run(client, image, ["sh", "-c", script])
    assert code == 0, output
    assert "nftables v" in output
    assert "iproute2" in output
    assert "3.11." in output


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_faketime_skews_the_wall_clock_and_leaves_sleeps_alone(image: str, client: Any) -> None:
    script = (
        "import time; t0 = time.monotonic(); time.sleep(0.2); "
        "print(time.time(), time.monotonic() - t0)"
    )
    code, output = run(
        client,
        image,
        ["python", "-c", script],
        LD_PRELOAD=images.FAKETIME_LIB,
        FAKETIME="+1d",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    assert code == 0, output
    faked, slept = map(float, output.split())
    assert abs(faked - time.time() - 86400) < 60, output
    assert 0.19 < slept < 5, output


@docker_test
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_a_source_change_is_a_new_image_on_cached_layers(
    image: str, project: Path, client: Any, tmp_path: Path
) -> None:
    changed = copy_project(tmp_path / "changed", source=project)
    with (changed / "lab/__init__.py").open("a") as f:
        f.write(f"# {SESSION}\n")
    commit_all(changed)
    log: list[str] = []
    started = time.monotonic()
    tag = images.ensure_image(changed, log=log.append)
    elapsed = time.monotonic() - started
    try:
        assert tag != image
        assert any(line.startswith("building") for line in log), log
        assert not any("resolving" in line for line in log), "the dependency wheels are cached"
        code, output = run(
            client, tag, ["python", "-c", "import inspect, lab; print(inspect.getsource(lab))"]
        )
        assert code == 0, output
        assert SESSION in output
        print(f"rebuild after a source change: {elapsed:.0f} s")
    finally:
        images.ensure_image(project)  # aspen-node:latest back on the image of the real tree
        client.images.remove(tag)


def test_pruning_removes_moved_node_images_and_stale_dependency_stages_only() -> None:
    """Every stage inherits the base's labels (content hash included): only a node image's own
    title, or a dependency stage of another lock or base, marks what a build left behind."""
    base = {"aspen.content-hash": "b", "org.opencontainers.image.title": "aspen-base"}
    node = {**base, "org.opencontainers.image.title": "aspen-node"}
    deps = {**base, "aspen.stage": "deps"}
    old, now = {**deps, "aspen.deps-key": "old"}, {**deps, "aspen.deps-key": "now"}
    labels = [node, old, now, base, None]
    dangling = [
        {"Id": f"sha256:{i + 1}" + "0" * 63, "Size": 1, "Labels": lab}
        for i, lab in enumerate(labels)
    ]  # fmt: skip
    removed: list[str] = []

    class Api:
        def images(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
            assert filters == {"dangling": True}
            return dangling

        def remove_image(self, image: str) -> None:
            removed.append(image[7:8])

    class Client:
        api = Api()

    images._prune_untagged(Client(), deps_key="now", log=lambda _m: None)
    assert removed == ["1", "2"]
