"""The image the Docker runtime runs etcd nodes from: found by content, built if missing.

``ensure_etcd_image(project_root)`` returns ``aspen-etcd:<hash>``: ``docker/etcd/Dockerfile`` on
top of the node image (`lab.runtime.images.ensure_image`), adding Debian's ``etcd-server``
binary. The hash covers the node image's id, the base it was built on and the Dockerfile, so a
changed tree means a new node image and then a new etcd image, whose build reuses the cached
stage that installed etcd (seconds, no network); the first build downloads etcd from
Debian's mirror. Built under the same machine-wide lock as the node image, with the same
progress lines, and all but the newest ``KEEP_NODE_IMAGES`` ``aspen-etcd:<hash>`` tags are
removed after a build.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import docker.errors
import requests

from lab.runtime.images import (
    KEEP_NODE_IMAGES,
    ImageBuildError,
    Log,
    build_lock,
    docker_client,
    ensure_image,
    image_id,
    prune_tags,
    stream_build,
)

ETCD_REPO = "aspen-etcd"
DOCKERFILE = Path("docker") / "etcd" / "Dockerfile"
BASE_LABEL = "org.opencontainers.image.base.name"
_HASH_SCHEME = "aspen-etcd-image/1"


def ensure_etcd_image(project_root: Path, *, log: Log = print) -> str:
    """Return ``aspen-etcd:<hash>`` for the project at ``project_root``, building what is
    missing (the node image first). Raises ``ImageBuildError``."""
    project_root = project_root.resolve()
    node = ensure_image(project_root, log=log)
    try:
        dockerfile = (project_root / DOCKERFILE).read_bytes()
    except OSError as e:
        raise ImageBuildError(f"no etcd Dockerfile: {e}") from e
    try:
        with (
            docker_client() as client,
            build_lock(),
            tempfile.TemporaryDirectory(prefix="aspen-etcd-image-") as tmp,
        ):
            node_id = image_id(client, node)
            if node_id is None:
                raise ImageBuildError(f"{node} vanished before the etcd image was built on it")
            labels = client.api.inspect_image(node)["Config"].get("Labels") or {}
            base = str(labels.get(BASE_LABEL) or "")
            if not base:
                raise ImageBuildError(f"{node} has no {BASE_LABEL} label to install etcd on")
            digest = etcd_image_hash(node_id, base, dockerfile)
            tag = f"{ETCD_REPO}:{digest}"
            if image_id(client, tag) is not None:
                log(f"{tag} is up to date (cache hit)")
            else:
                log(f"building {tag} on {node} (etcd from {base})")
                context = Path(tmp)
                (context / "Dockerfile").write_bytes(dockerfile)
                buildargs = {"NODE": node, "BASE": base, "CONTENT_HASH": digest}
                stream_build(client, context, tag, buildargs, log)
                prune_tags(client, keep=KEEP_NODE_IMAGES, current=tag, log=log, repo=ETCD_REPO)
            client.api.tag(tag, ETCD_REPO, "latest")
            return tag
    except (docker.errors.DockerException, requests.RequestException) as e:
        raise ImageBuildError(f"Docker: {e}") from e


def etcd_image_hash(node_id: str, base: str, dockerfile: bytes) -> str:
    """The 16-hex-digit identity of the etcd image built on ``node_id`` with ``dockerfile``."""
    h = hashlib.sha256()
    for part in (_HASH_SCHEME, node_id, base):
        h.update(part.encode() + b"\0")
    h.update(dockerfile)
    return h.hexdigest()[:16]
