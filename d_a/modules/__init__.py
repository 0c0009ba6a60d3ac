"""Business modules: one input parser per module (their inputs are assembled by `d_a.inputs`)."""

from ..inputs import (
    InputAssembly,
    ModuleInput,
    TopicDicts,
    TopicViews,
    build_module_input,
    data_quality,
    dependency_inputs,
)
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
