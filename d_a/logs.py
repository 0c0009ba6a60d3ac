"""Logging setup for the service and the command line (never run on import).

Console plus a rotating UTF-8 file, in the original d_a's format. Every handler installed here carries a
filter that masks secrets (registered values and `password=`-style pairs), so SASL and SSL
passwords never reach a log line.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

__all__ = ["LOG_FORMAT", "SecretFilter", "ensure_logging", "log_file_path", "register_secret", "setup_logging"]

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s %(message)s"
DEFAULT_LOG_FILE = "data_analysis.log"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 5
MASK = "***"

_SECRET_PAIR = re.compile(
    r"""(?P<key>['"]?[\w.-]*(?:password|passwd|secret|token|sasl_plain_password)['"]?\s*[:=]\s*)"""
    r"""(?P<quote>['"]?)(?P<value>[^'",\s}]+)(?P=quote)""",
    re.IGNORECASE,
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: object) -> None:
    """Mask `value` wherever it appears in a log line written through `setup_logging` handlers."""
    if isinstance(value, str) and len(value) >= 3:
        with _secrets_lock:
            _secrets.add(value)


def mask_secrets(text: str) -> str:
    """`text` with registered secrets and `password=...` style values replaced by ***."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['quote']}{MASK}{m['quote']}", text)


class SecretFilter(logging.Filter):
    """Rewrites a record's final message (and traceback) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True


_OWN_HANDLER = "_d_a_handler"


def setup_logging(
    level: str | int | None = None,
    log_file: str | os.PathLike[str] | None = None,
    *,
    console: bool = True,
    file: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUP_COUNT,
) -> logging.Logger:
    """Configure the root logger: console and/or rotating file, secret masking on both.

    `level` defaults to `LOG_LEVEL` (INFO), `log_file` to `DATA_ANALYSIS_LOG` (data_analysis.log).
    Calling it again replaces the handlers it installed before instead of adding more.
    """
    root = logging.getLogger()
    resolved = level if level is not None else os.environ.get("LOG_LEVEL", "INFO")
    if isinstance(resolved, str):
        number = logging.getLevelName(resolved.upper())
        if not isinstance(number, int):
            raise ValueError(f"LOG_LEVEL: unknown level {resolved!r} (use DEBUG, INFO, WARNING, ERROR)")
        resolved = number
    root.setLevel(resolved)
    for handler in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(handler)
        handler.close()

    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler())
    if file:
        handlers.append(_file_handler(log_file_path(log_file), max_bytes, backup_count))
    for handler in handlers:
        root.addHandler(_own(handler))
    return root


def log_file_path(log_file: str | os.PathLike[str] | None = None) -> Path:
    """The log file: `log_file`, else `DATA_ANALYSIS_LOG`, else data_analysis.log."""
    return Path(log_file or os.environ.get("DATA_ANALYSIS_LOG") or DEFAULT_LOG_FILE)


def ensure_logging() -> None:
    """What a service does when it is created, as the original d_a's services log to console and file
    out of the box: nothing configured at all -> `setup_logging()`; logging configured by the
    application (say `logging.basicConfig`) but no handler writing the log file -> d_a's own
    records also go to the log file. Nothing when `setup_logging` already ran (call it yourself,
    e.g. with `file=False`, to choose otherwise)."""
    root, package = logging.getLogger(), logging.getLogger("d_a")
    handlers = [*root.handlers, *package.handlers]
    if any(getattr(h, _OWN_HANDLER, False) for h in handlers):
        return
    if not root.handlers:
        setup_logging()
        return
    path = log_file_path().resolve()
    if any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path for h in handlers):
        return
    package.addHandler(_own(_file_handler(path, DEFAULT_MAX_BYTES, DEFAULT_BACKUP_COUNT)))


def _file_handler(path: Path, max_bytes: int, backup_count: int) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    return RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8")


def _own(handler: logging.Handler) -> logging.Handler:
    """A handler installed by d_a: the original d_a's format, secrets masked, marked as d_a's."""
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(SecretFilter())
    setattr(handler, _OWN_HANDLER, True)
    return handler
