"""Configuration: YAML + environment + CLI overrides, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from polc.cloud.config import load_config
from polc.shared.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "cloud.example.yaml"


def test_sources_and_precedence(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("ingest: {window: 3, max_streams: 5}\nstore: {path: /data/a}\n")
    monkeypatch.setenv("POLC_CLOUD_INGEST__WINDOW", "7")
    cfg = load_config(path, {"store.path": "/data/b", "listen": None})
    assert cfg.ingest.window == 7  # env beats the file
    assert cfg.ingest.max_streams == 5
    assert str(cfg.store.path) == "/data/b"  # the command line beats both
    assert cfg.listen == "127.0.0.1:50051"  # None = not given
    assert not cfg.auth.enabled and not cfg.tls.enabled


@pytest.mark.parametrize(
    "text, field",
    [
        ("ingest: {windw: 3}", "ingest.windw"),
        ("ingest: {window: 0}", "ingest.window"),
        ("listen: nowhere", "listen"),
        ("auth: {tokens: [{role: camera, token: aaaaaaaaaaaaaaaaaaaa}]}", "auth.tokens.0"),
        ("tls: {cert_file: /x.pem}", "tls"),
        ("batching: {max_batch_size: many}", "batching.max_batch_size"),
    ],
)
def test_errors_name_the_field(tmp_path, text, field):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"'{field}'"):
        load_config(path)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.auth.enabled and cfg.connection.max_connection_age_seconds
