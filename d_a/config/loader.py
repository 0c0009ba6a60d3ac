"""Where a configuration comes from: a YAML or Python file, a dict, a module, or the default.

Without an explicit source the first of these wins: `DATA_ANALYSIS_CONFIG_PATH`, a `config.py`
placed next to the package (`<site-packages>/d_a/config.py`, where the original d_a's Docker and Kubernetes
examples mount it), `./config.yaml`, the packaged `default.yaml`. A file or dict only needs the
sections it changes; the others come from the packaged default.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ..errors import ConfigError
from .model import SECTION_NAMES, Config, build_config

__all__ = ["ENV_CONFIG_PATH", "ConfigSource", "get_config", "load_config", "reread", "set_config"]

logger = logging.getLogger("d_a.config")

ENV_CONFIG_PATH = "DATA_ANALYSIS_CONFIG_PATH"
LOCAL_CONFIG = "config.yaml"
PACKAGE_MOUNT = Path(__file__).resolve().parent.parent / "config.py"  # the original d_a's d_a/config.py

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | ModuleType | Config | None

_current: Config | None = None
_current_lock = threading.Lock()


@lru_cache(maxsize=1)
def _default_text() -> str:
    return resources.files("d_a.config").joinpath("default.yaml").read_text(encoding="utf-8")


def default_document() -> dict[str, Any]:
    """The packaged default configuration as a plain mapping (a fresh copy each call)."""
    return yaml.safe_load(_default_text())


def load_config(source: ConfigSource = None) -> Config:
    """Load and validate a configuration; raises ConfigError naming each bad key.

    `source` may be a path (.yaml/.yml/.json or .py), a mapping, a module with the original d_a's
    upper-case names (KAFKA_CONFIG, TOPIC_DETAIL, ...), an existing Config, or None.
    """
    if isinstance(source, Config):
        return source
    document, name = _read(source)
    config = build_config(document, defaults=default_document(), source=name)
    if config.shared_names:
        logger.info(
            "config %s: %d input names shared by topics of one module (%s); the flat name holds the "
            "first topic's value, every topic's is under _topics[topic]; `d-a check-config` lists them",
            name,
            sum(len(shared.names) for shared in config.shared_names),
            ", ".join(dict.fromkeys(shared.module for shared in config.shared_names)),
        )
    return config


def reread(source: ConfigSource) -> ConfigSource:
    """`source` made current for a reload: a Python config module is imported again (as the
    original d_a's `reload_config` does with `importlib.reload`), so edits to its file take effect."""
    package = sys.modules.get(__package__ or "")
    if isinstance(source, ModuleType) and source is not package and getattr(source, "__spec__", None) is not None:
        try:
            return importlib.reload(source)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is a config error
            problem = f"{type(exc).__name__}: {exc}"
            raise ConfigError(f"module {source.__name__}: importing it again failed: {problem}") from exc
    return source


def get_config() -> Config:
    """The process-wide configuration, loaded on first use from the default sources."""
    global _current
    with _current_lock:
        if _current is None:
            _current = load_config()
        return _current


def set_config(source: ConfigSource) -> Config:
    """Replace the process-wide configuration (what `d_a.config.TOPIC_DETAIL` etc. show)."""
    global _current
    config = load_config(source)
    with _current_lock:
        _current = config
    return config


def _read(source: ConfigSource) -> tuple[Mapping[str, Any], str]:
    if source is None or source is sys.modules.get(__package__ or ""):
        return _read_default()  # `d_a.config` itself: the process-wide configuration's sources, read again
    if isinstance(source, ModuleType):
        return _from_module(source), f"module {source.__name__}"
    if isinstance(source, Mapping):
        return source, "<dict>"
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source)), str(source)
    raise ConfigError(f"config source: expected a path, dict or module, got {type(source).__name__}")


def _read_default() -> tuple[Mapping[str, Any], str]:
    env_path = os.environ.get(ENV_CONFIG_PATH)
    if env_path:
        return _read_file(Path(env_path)), env_path
    if PACKAGE_MOUNT.is_file():
        return _read_file(PACKAGE_MOUNT), str(PACKAGE_MOUNT)
    if Path(LOCAL_CONFIG).is_file():
        return _read_file(Path(LOCAL_CONFIG)), str(Path(LOCAL_CONFIG).resolve())
    return {}, "packaged default"


def _read_file(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.suffix == ".py":
        return _from_module(_import_file(path))
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping of sections at top level, got {type(document).__name__}")
    return document


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_d_a_user_config_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported as a Python config module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure of user code is a config error
        raise ConfigError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    return module


def _from_module(module: ModuleType) -> dict[str, Any]:
    """The configuration sections a Python config module defines (seed or canonical names)."""
    names = set(SECTION_NAMES) | set(SECTION_NAMES.values())
    sections = {name: getattr(module, name) for name in dir(module) if name in names}
    return {name: value for name, value in sections.items() if not isinstance(value, ModuleType)}
