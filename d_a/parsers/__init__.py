"""The original d_a's import path of the business-module parsers (`d_a.parsers`); they live in `d_a.modules`.

A parser written as the original d_a's developer guide shows (a ParserBase subclass whose
`parse(all_topics_data)` builds the input from `{topic: window records, dependency: output}`) is
put in `MODULE_PARSER_MAP` (or a dispatcher's `module_parsers`) under its module's name.
"""

from ..modules import MODULE_PARSER_MAP, ModuleParser, register_module_parser
from ..modules.customer_mining import CustomerMiningParser
from ..modules.electricity_price import ElectricityPriceParser
from ..modules.evaluation_model import EvaluationModelParser
from ..modules.load_prediction import LoadPredictionParser
from ..modules.operation_optimization import OperationOptimizationParser
from ..modules.pv_prediction import PvPredictionParser
from ..modules.soh_model import SOHModelParser
from ..modules.station_guidance import StationGuidanceParser
from ..modules.thermal_management import ThermalManagementParser
from ..parser_base import ParserBase

__all__ = [
    "MODULE_PARSER_MAP",
    "CustomerMiningParser",
    "ElectricityPriceParser",
    "EvaluationModelParser",
    "LoadPredictionParser",
    "ModuleParser",
    "OperationOptimizationParser",
    "ParserBase",
    "PvPredictionParser",
    "SOHModelParser",
    "StationGuidanceParser",
    "ThermalManagementParser",
    "register_module_parser",
]
