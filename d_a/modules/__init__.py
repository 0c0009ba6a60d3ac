"""Module inputs: the generic assembly plus one parser per business module."""

from . import (  # noqa: F401 - register the built-in module parsers
    customer_mining,
    electricity_price,
    evaluation_model,
    load_prediction,
    operation_optimization,
    pv_prediction,
    soh_model,
    station_guidance,
    thermal_management,
)
from .base import MODULE_PARSER_MAP, ModuleParser, module_parser, register_module_parser, registered_module_parsers
from .inputs import InputAssembly, build_module_input, data_quality, dependency_inputs
from .module_input import ModuleInput, TopicDicts, TopicViews

__all__ = [
    "MODULE_PARSER_MAP",
    "InputAssembly",
    "ModuleInput",
    "ModuleParser",
    "TopicDicts",
    "TopicViews",
    "build_module_input",
    "data_quality",
    "dependency_inputs",
    "module_parser",
    "register_module_parser",
    "registered_module_parsers",
]
