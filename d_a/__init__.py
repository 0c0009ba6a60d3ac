"""d_a: aligned, per-station model inputs from Kafka topics of EV-charging data.

Importing d_a reads no configuration file, configures no logging and opens no connection.
"""

import logging as _logging

from .config import Config, load_config
from .errors import (
    ConfigError,
    DataAnalysisError,
    DispatcherError,
    KafkaConnectionError,
    error_counts,
    handle_error,
)
from .logs import setup_logging

__all__ = [
    "Config",
    "ConfigError",
    "DataAnalysisError",
    "DispatcherError",
    "KafkaConnectionError",
    "error_counts",
    "handle_error",
    "load_config",
    "setup_logging",
]

__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
