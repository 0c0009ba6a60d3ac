"""d_a: aligned, per-station model inputs from Kafka topics of EV-charging data.

The names of the original d_a's API reference are importable from here
(`from d_a import AsyncDataAnalysisService`). Importing d_a reads no configuration file,
configures no logging and opens no connection.
"""

import logging as _logging

from .config import Config, load_config
from .dispatcher import DataDispatcher
from .errors import (
    ConfigError,
    DataAnalysisError,
    DispatcherError,
    KafkaConnectionError,
    error_counts,
    handle_error,
)
from .kafka import (
    AsyncKafkaConsumerClient,
    AsyncKafkaProducerClient,
    KafkaConsumerClient,
    KafkaProducerClient,
    KafkaTransport,
    MemoryTransport,
    OffsetManager,
)
from .logs import setup_logging
from .modules import MODULE_PARSER_MAP, ModuleInput, ModuleParser, register_module_parser
from .parser_base import ParserBase
from .service import AsyncDataAnalysisService, DataAnalysisService
from .service.batching import BatchCollector, BatchResultAggregator
from .topics import TOPIC_PARSER_MAP, TopicParser, register_parser

__all__ = [
    "MODULE_PARSER_MAP",
    "TOPIC_PARSER_MAP",
    "AsyncDataAnalysisService",
    "AsyncKafkaConsumerClient",
    "AsyncKafkaProducerClient",
    "BatchCollector",
    "BatchResultAggregator",
    "Config",
    "ConfigError",
    "DataAnalysisError",
    "DataAnalysisService",
    "DataDispatcher",
    "DispatcherError",
    "KafkaConnectionError",
    "KafkaConsumerClient",
    "KafkaProducerClient",
    "KafkaTransport",
    "MemoryTransport",
    "ModuleInput",
    "ModuleParser",
    "OffsetManager",
    "ParserBase",
    "TopicParser",
    "error_counts",
    "handle_error",
    "load_config",
    "register_module_parser",
    "register_parser",
    "setup_logging",
]

__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
