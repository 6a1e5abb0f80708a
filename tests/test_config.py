"""Layered configuration: defaults < ASPEN_* < TOML < flags, and every invalid field."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aspen.config import (
    FIELDS,
    NodeConfig,
    PeerSpec,
    config_parser,
    exit_on_config_error,
    load_config,
    parse_host_port,
)
from aspen.errors import ConfigError
from aspen.ticket import Ticket, TicketPeer


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def load(
    data_dir: str, *flags: str, env: dict[str, str] | None = None, toml: str | None = None,
    tmp: Path | None = None,
) -> NodeConfig:  # fmt: skip
    argv = ["--data-dir", data_dir, *flags]
    if toml is not None:
        assert tmp is not None
        path = tmp / "aspen.toml"
        path.write_text(toml)
        argv += ["--config", str(path)]
    return load_config(argv, env or {})


def test_defaults(data_dir: str) -> None:
    c = load(data_dir, "--node-id", "1")
    assert c.node_id == 1
    assert c.data_dir == Path(data_dir) and Path(data_dir).is_dir()  # created
    assert (c.raft_addr, c.http_addr) == ("127.0.0.1:7000", "127.0.0.1:8080")
    assert (c.raft_advertised, c.http_advertised) == (c.raft_addr, c.http_addr)
    assert (c.tick_ms, c.heartbeat_ms, c.election_ms) == (50, 100, 1000)
    assert (c.heartbeat_ticks, c.election_ticks) == (2, 20)
    assert c.fsync == "always" and c.map_size == 1 << 30
    assert c.snapshot_threshold == 10_000 and c.max_proposal_batch == 256
    assert c.promote_max_lag == 1000
    assert c.ticket is None and c.log_level == "INFO" and c.peers == () and c.cluster_id == ""


def test_promote_max_lag_from_env_and_flag(data_dir: str) -> None:
    assert load(data_dir, "--node-id", "1", env={"ASPEN_PROMOTE_MAX_LAG": "0"}).promote_max_lag == 0
    assert load(data_dir, "--node-id", "1", "--promote-max-lag", "50").promote_max_lag == 50


def test_precedence_env_then_file_then_flags(data_dir: str, tmp_path: Path) -> None:
    env = {"ASPEN_NODE_ID": "1", "ASPEN_TICK_MS": "20", "ASPEN_LOG_LEVEL": "debug"}
    assert load(data_dir, env=env).tick_ms == 20
    c = load(data_dir, env=env, toml="tick_ms = 30\n", tmp=tmp_path)
    assert (c.tick_ms, c.log_level) == (30, "DEBUG")  # file over env; env where file is silent
    c = load(data_dir, "--tick-ms", "40", env=env, toml="tick_ms = 30\n", tmp=tmp_path)
    assert c.tick_ms == 40
    c = load(data_dir, "--node-id", "3", env=env, toml="node_id = 2\n", tmp=tmp_path)
    assert c.node_id == 3


def test_config_file_from_environment(data_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('node_id = 4\nfsync = "never"\nmap_size = "64MiB"\n')
    c = load_config(["--data-dir", data_dir], {"ASPEN_CONFIG": str(path)})
    assert (c.node_id, c.fsync, c.map_size) == (4, "never", 64 << 20)


def test_every_field_from_every_layer(data_dir: str, tmp_path: Path) -> None:
    flags = [
        "--node-id", "2", "--raft-addr", "0.0.0.0:7002", "--http-addr", "[::]:0",
        "--advertise-raft", "node2:7002", "--advertise-http", "node2:8082",
        "--cluster-id", "prod", "--tick-ms", "10", "--heartbeat-ms", "50",
        "--election-ms", "500", "--fsync", "never", "--map-size", "1GiB",
        "--snapshot-threshold", "5", "--max-proposal-batch", "8", "--log-level", "warning",
        "--peer", "1=n1:7001@n1:8081", "--peer", "3=n3:7003@n3:8083",
    ]  # fmt: skip
    c = load(data_dir, *flags)
    assert c.http_addr == "[::]:0" and c.http_advertised == "node2:8082"
    assert c.raft_advertised == "node2:7002"
    assert (c.heartbeat_ticks, c.election_ticks) == (5, 50)
    assert c.peers == (PeerSpec(1, "n1:7001", "n1:8081"), PeerSpec(3, "n3:7003", "n3:8083"))
    env = {"ASPEN_NODE_ID": "2", "ASPEN_PEERS": "1=n1:7001@n1:8081, 3=n3:7003@n3:8083"}
    assert load(data_dir, env=env).peers == c.peers
    toml = """node_id = 2
peers = [{id = 1, raft = "n1:7001", http = "n1:8081"}, "3=n3:7003@n3:8083"]
"""
    assert load(data_dir, toml=toml, tmp=tmp_path).peers == c.peers


def test_ticket_sets_nothing_but_must_match_cluster_id(data_dir: str) -> None:
    ticket = Ticket("prod", (TicketPeer(1, "n1:7001", "n1:8081"),)).encode()
    c = load(data_dir, "--node-id", "2", "--ticket", ticket)
    assert c.ticket == ticket
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "2", "--ticket", ticket, "--cluster-id", "dev")
    assert e.value.field == "cluster_id"


SECRET = "0123456789abcdef-secret"


def test_security_fields_from_every_layer(data_dir: str, tmp_path: Path) -> None:
    c = load(data_dir, "--node-id", "1")
    assert (c.cluster_secret, c.secret_bytes, c.admin_token, c.tls) == ("", None, "", False)
    assert (c.peer_max_connections, c.peer_handshake_ms, c.peer_idle_ms) == (64, 5000, 60000)
    env = {
        "ASPEN_NODE_ID": "1",
        "ASPEN_CLUSTER_SECRET": SECRET,
        "ASPEN_ADMIN_TOKEN": "tok-xyz-42",
        "ASPEN_PEER_MAX_CONNECTIONS": "8",
        "ASPEN_PEER_HANDSHAKE_MS": "250",
        "ASPEN_PEER_IDLE_MS": "1500",
    }
    c = load(data_dir, env=env)
    assert (c.secret_bytes, c.admin_token) == (SECRET.encode(), "tok-xyz-42")
    assert (c.peer_max_connections, c.peer_handshake_ms, c.peer_idle_ms) == (8, 250, 1500)
    assert SECRET not in repr(c) and "tok-xyz-42" not in repr(c)
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "token").write_text("  file-token\n")
    c = load(
        data_dir,
        "--node-id", "1",
        "--cluster-secret-file", str(tmp_path / "secret"),
        "--admin-token-file", str(tmp_path / "token"),
    )  # fmt: skip
    assert (c.cluster_secret, c.admin_token) == (SECRET, "file-token")
    toml = f'node_id = 1\ncluster_secret = "{SECRET}"\npeer_idle_ms = 900\n'
    c = load(data_dir, toml=toml, tmp=tmp_path)
    assert (c.cluster_secret, c.peer_idle_ms) == (SECRET, 900)


def test_a_secret_and_its_file_are_exclusive(data_dir: str, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET)
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "1", "--cluster-secret", SECRET,
             "--cluster-secret-file", str(tmp_path / "secret"))  # fmt: skip
    assert e.value.field == "cluster_secret_file"
    (tmp_path / "short").write_text("tiny")
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "1", "--cluster-secret-file", str(tmp_path / "short"))
    assert e.value.field == "cluster_secret_file" and "16 bytes" in str(e.value)


def test_a_ticket_secret_must_match_the_configured_one(data_dir: str) -> None:
    ticket = Ticket("prod", (TicketPeer(1, "n1:7001", "n1:8081"),), SECRET).encode()
    assert load(data_dir, "--node-id", "2", "--ticket", ticket).ticket == ticket
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "2", "--ticket", ticket, "--cluster-secret", "x" * 20)
    assert e.value.field == "cluster_secret"


INVALID = [
    # (flags, env, field, fragment)
    ([], {}, "node_id", "is required"),
    (["--node-id", "0"], {}, "node_id", "positive"),
    (["--node-id", "-1"], {}, "node_id", "positive"),
    (["--node-id", "x"], {}, "node_id", "integer"),
    (["--node-id", str(1 << 63)], {}, "node_id", "positive"),
    ([], {"ASPEN_NODE_ID": "1.5"}, "node_id", "integer"),
    (["--tick-ms", "0"], {}, "tick_ms", "positive"),
    (["--heartbeat-ms", "-5"], {}, "heartbeat_ms", "positive"),
    (["--election-ms", "abc"], {}, "election_ms", "integer"),
    (["--heartbeat-ms", "20"], {}, "heartbeat_ms", "at least tick_ms"),
    (["--heartbeat-ms", "1000"], {}, "election_ms", "more ticks than heartbeat_ms"),
    (["--heartbeat-ms", "100", "--election-ms", "120"], {}, "election_ms", "more ticks"),
    (["--raft-addr", "localhost"], {}, "raft_addr", "host:port"),
    (["--http-addr", "h:65536"], {}, "http_addr", "0..65535"),
    (["--http-addr", "h:-1"], {}, "http_addr", "port"),
    (["--http-addr", "bad host:80"], {}, "http_addr", "not a valid host name"),
    (["--advertise-http", "::1:80"], {}, "advertise_http", "[addr]:port"),
    (["--advertise-raft", "[::g]:80"], {}, "advertise_raft", "not an IPv6 address"),
    (["--fsync", "sometimes"], {}, "fsync", "'always' or 'never'"),
    (["--map-size", "12XB"], {}, "map_size", "size like"),
    (["--map-size", "1000"], {}, "map_size", "at least 1 MiB"),
    (["--snapshot-threshold", "0"], {}, "snapshot_threshold", "positive"),
    (["--max-proposal-batch", "0"], {}, "max_proposal_batch", "positive"),
    (["--promote-max-lag", "-1"], {}, "promote_max_lag", "0 or more"),
    ([], {"ASPEN_PROMOTE_MAX_LAG": "x"}, "promote_max_lag", "integer"),
    (["--log-level", "LOUD"], {}, "log_level", "one of"),
    (["--peer", "2=a:1"], {}, "peers", "ID=RAFT@HTTP"),
    (["--peer", "0=a:1@a:2"], {}, "peers", "positive"),
    (["--peer", "2=a:1@a:2", "--peer", "2=b:1@b:2"], {}, "peers", "unique"),
    (["--peer", "2=a@a:2"], {}, "peers", "host:port"),
    (["--ticket", "aspenXYZ"], {}, "ticket", "lowercase base32"),
    (["--ticket", "nope"], {}, "ticket", "must start with"),
    (["--cluster-id", "c" * 129], {}, "cluster_id", "at most 128"),
    (["--cluster-secret", "short"], {}, "cluster_secret", "at least 16 bytes"),
    ([], {"ASPEN_CLUSTER_SECRET": "short"}, "cluster_secret", "at least 16 bytes"),
    (["--cluster-secret-file", "/nonexistent/s"], {}, "cluster_secret_file", "cannot read"),
    (["--admin-token", "a b"], {}, "admin_token", "without spaces"),
    ([], {"ASPEN_ADMIN_TOKEN": "t\x01"}, "admin_token", "printable"),
    (["--peer-max-connections", "0"], {}, "peer_max_connections", "positive"),
    ([], {"ASPEN_PEER_MAX_CONNECTIONS": "100000"}, "peer_max_connections", "at most 65536"),
    (["--peer-handshake-ms", "0"], {}, "peer_handshake_ms", "positive"),
    ([], {"ASPEN_PEER_IDLE_MS": "soon"}, "peer_idle_ms", "integer"),
    (["--tls-cert", "/x.pem"], {}, "tls_key", "go together"),
    (["--tls-key", "/x.pem"], {}, "tls_cert", "go together"),
    (["--tls-ca", "/x.pem"], {}, "tls_ca", "needs tls_cert"),
    (["--tls-cert", "/x.pem", "--tls-key", "/y.pem"], {}, "tls_ca", "required"),
    (["--tls-cert", "/x", "--tls-key", "/y", "--tls-ca", "/z"], {}, "tls_cert", "no such file"),
]


@pytest.mark.parametrize(("flags", "env", "field", "fragment"), INVALID)
def test_invalid_field(
    data_dir: str, flags: list[str], env: dict[str, str], field: str, fragment: str
) -> None:
    if field != "node_id" and "ASPEN_NODE_ID" not in env:
        flags = ["--node-id", "1", *flags]
    with pytest.raises(ConfigError) as e:
        load(data_dir, *flags, env=env)
    assert e.value.field == field
    assert fragment in str(e.value)


@pytest.mark.parametrize(
    ("toml", "field", "fragment"),
    [
        ("node_id = 1\nnode-id = 2\n", "node-id", "unknown key"),
        ("node_id = 1\n[raft]\ntick = 1\n", "raft", "unknown key"),
        ("node_id = true\n", "node_id", "integer"),
        ("node_id = 1\ntick_ms = 1.5\n", "tick_ms", "integer"),
        ("node_id = 1\nfsync = 1\n", "fsync", "string"),
        ("node_id = 1\npeers = 3\n", "peers", "list"),
        ("node_id = 1\npeers = [{id = 2, raft = 'a:1'}]\n", "peers", "id, raft, http"),
        ("node_id = = 1\n", "config", "not valid TOML"),
    ],
)
def test_invalid_toml(data_dir: str, tmp_path: Path, toml: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir, toml=toml, tmp=tmp_path)
    assert e.value.field == field
    assert fragment in str(e.value)


def test_missing_config_file(data_dir: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "1", "--config", str(tmp_path / "absent.toml"))
    assert e.value.field == "config" and "cannot read" in str(e.value)


def test_data_dir_must_be_a_writable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as e:
        load(str(blocker / "sub"), "--node-id", "1")
    assert e.value.field == "data_dir"
    with pytest.raises(ConfigError) as e:
        load(str(blocker), "--node-id", "1")
    assert e.value.field == "data_dir"
    with pytest.raises(ConfigError) as e:
        load("  ", "--node-id", "1")
    assert e.value.field == "data_dir"


def test_unknown_flag_is_a_usage_error(data_dir: str) -> None:
    with pytest.raises(SystemExit) as e:
        load(data_dir, "--node-id", "1", "--tikc-ms", "5")
    assert e.value.code == 2


def test_unknown_environment_variables_are_ignored(data_dir: str) -> None:
    assert load(data_dir, env={"ASPEN_NODE_ID": "1", "ASPEN_SOMETHING": "x"}).node_id == 1


def test_exit_on_config_error_prints_one_line(
    data_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e, exit_on_config_error("aspen-node"):
        load(data_dir, "--node-id", "1", "--tick-ms", "0")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "aspen-node: config error: tick_ms: must be positive, got 0\n"


def test_parser_has_a_flag_per_field() -> None:
    text = config_parser().format_help()
    for flag in ["--node-id", "--data-dir", "--advertise-http", "--election-ms", "--peer"]:
        assert flag in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:1", ("a", 1)),
        ("localhost:0", ("localhost", 0)),
        ("10.1.2.3:65535", ("10.1.2.3", 65535)),
        ("[::1]:8080", ("::1", 8080)),
        ("node-1.example.com.:80", ("node-1.example.com.", 80)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["", "a", ":80", "a:", "a:b", "a:1:2", "[::1]80", "[::1", "-a:1", "a:٣", "a:+1"]
)
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        parse_host_port("a:0", allow_port_zero=False)


def test_tls_files_that_cannot_be_used_name_their_field(data_dir: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "1", "--tls-cert", str(junk), "--tls-key", str(junk),
             "--tls-ca", str(junk))  # fmt: skip
    assert e.value.field == "tls_cert" and "cannot load" in str(e.value)
    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary to make a certificate")
    cert, key = tmp_path / "n.pem", tmp_path / "n.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=t"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    c = load(data_dir, "--node-id", "1", "--tls-cert", str(cert), "--tls-key", str(key),
             "--tls-ca", str(cert))  # fmt: skip
    assert c.tls and c.tls_ca == cert
    with pytest.raises(ConfigError) as e:
        load(data_dir, "--node-id", "1", "--tls-cert", str(cert), "--tls-key", str(key),
             "--tls-ca", str(junk))  # fmt: skip
    assert e.value.field == "tls_ca"


def test_help_names_every_fields_environment_variable_and_default() -> None:
    text = " ".join(config_parser().format_help().split())  # unwrap argparse's lines
    for name in FIELDS:
        env = "ASPEN_PEERS" if name == "peers" else "ASPEN_" + name.upper()
        assert env in text, name
    assert "[ASPEN_MAP_SIZE; default: 1GiB]" in text
    assert "[ASPEN_NODE_ID; default: required]" in text
    assert "[ASPEN_TICK_MS; default: 50]" in text
    assert "[ASPEN_ADMIN_TOKEN; default: none]" in text
