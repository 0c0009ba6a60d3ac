"""setup_logging: the seeds' format, a rotating UTF-8 file, and no secret in any line."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

import pytest

from d_a.config import load_config
from d_a.logs import LOG_FORMAT, register_secret, setup_logging


def flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_writes_the_seed_format_to_a_utf8_file(tmp_path) -> None:
    path = tmp_path / "logs" / "app.log"
    setup_logging("INFO", path, console=False)
    logging.getLogger("d_a.test").info("站点 ST0001 online")
    flush()
    line = path.read_text(encoding="utf-8").strip()
    assert line.endswith("INFO d_a.test 站点 ST0001 online")
    assert line.startswith("[") and "] INFO" in line
    assert LOG_FORMAT == "[%(asctime)s] %(levelname)s %(name)s %(message)s"


def test_environment_variables_choose_file_and_level(tmp_path, monkeypatch) -> None:
    path = tmp_path / "env.log"
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(path))
    monkeypatch.setenv("LOG_LEVEL", "warning")
    root = setup_logging(console=False)
    logging.getLogger("d_a.test").info("hidden")
    logging.getLogger("d_a.test").warning("shown")
    flush()
    assert root.level == logging.WARNING
    text = path.read_text(encoding="utf-8")
    assert "shown" in text and "hidden" not in text


def test_rotation_defaults_to_10_mb_times_5(tmp_path) -> None:
    setup_logging("INFO", tmp_path / "r.log", console=False)
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)]
    assert (handler.maxBytes, handler.backupCount, handler.encoding) == (10 * 1024 * 1024, 5, "utf-8")


def test_calling_twice_does_not_duplicate_lines(tmp_path) -> None:
    path = tmp_path / "twice.log"
    setup_logging("INFO", path, console=False)
    setup_logging("INFO", path, console=False)
    logging.getLogger("d_a.test").info("once")
    flush()
    assert path.read_text(encoding="utf-8").count("once") == 1


def test_unknown_level_is_named() -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL: unknown level 'LOUD'"):
        setup_logging("LOUD", console=False, file=False)


def test_kafka_passwords_never_reach_the_log(tmp_path) -> None:
    path = tmp_path / "secret.log"
    setup_logging("DEBUG", path, console=False)
    config = load_config(
        {
            "kafka": {
                "bootstrap_servers": "k:9092",
                "sasl_plain_username": "svc",
                "sasl_plain_password": "pa55-w0rd!",
            }
        }
    )
    log = logging.getLogger("d_a.test")
    log.info("consumer settings: %s", config.kafka.consumer)
    log.info("raw config %r", config.document)
    try:
        raise RuntimeError(f"auth failed for {config.kafka.consumer['sasl_plain_password']}")
    except RuntimeError:
        log.exception("connect failed")
    flush()
    text = path.read_text(encoding="utf-8")
    assert "pa55-w0rd!" not in text
    assert text.count("***") >= 3
    assert "svc" in text


def test_password_pairs_are_masked_even_when_not_registered(tmp_path) -> None:
    path = tmp_path / "pairs.log"
    setup_logging("INFO", path, console=False)
    logging.getLogger("d_a.test").info("dsn user=a password=hunter2 ssl_password: 'abc123'")
    flush()
    text = path.read_text(encoding="utf-8")
    assert "hunter2" not in text and "abc123" not in text
    assert "user=a" in text


def test_registered_secret_masked_on_console(capsys) -> None:
    register_secret("console-secret-42")
    setup_logging("INFO", console=True, file=False)
    logging.getLogger("d_a.test").warning("token is console-secret-42")
    captured = capsys.readouterr()
    assert "console-secret-42" not in captured.err
    assert "token is ***" in captured.err


def test_ensure_logging_sets_up_console_and_file_when_nothing_is_configured(tmp_path, monkeypatch) -> None:
    from d_a.logs import ensure_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(tmp_path / "app.log"))
    ensure_logging()
    ensure_logging()  # a second service adds nothing
    assert sorted(type(h).__name__ for h in root.handlers) == ["RotatingFileHandler", "StreamHandler"]
    for handler in root.handlers:
        handler.close()


def test_ensure_logging_adds_only_the_file_to_an_application_configured_console(tmp_path, monkeypatch) -> None:
    from d_a.logs import ensure_logging

    path = tmp_path / "app.log"
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(path))
    console = logging.StreamHandler()
    monkeypatch.setattr(logging.getLogger(), "handlers", [console])
    ensure_logging()
    package = logging.getLogger("d_a")
    added = [h for h in package.handlers if isinstance(h, RotatingFileHandler)]
    assert len(added) == 1 and added[0].baseFilename == str(path)
    ensure_logging()
    assert len([h for h in package.handlers if isinstance(h, RotatingFileHandler)]) == 1


def test_ensure_logging_respects_a_file_the_application_writes_itself(tmp_path, monkeypatch) -> None:
    from d_a.logs import ensure_logging

    path = tmp_path / "app.log"
    monkeypatch.setenv("DATA_ANALYSIS_LOG", str(path))
    own = RotatingFileHandler(path, encoding="utf-8")
    monkeypatch.setattr(logging.getLogger(), "handlers", [own])
    try:
        ensure_logging()
        assert not [h for h in logging.getLogger("d_a").handlers if isinstance(h, RotatingFileHandler)]
    finally:
        own.close()
