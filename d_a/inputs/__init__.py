"""Module inputs: a station's input of a module assembled from its topics' windows, rebuilt only
where a window changed (`InputAssembly`), each topic's part reused or extended (`TopicInputCache`),
and handed to the model as a copy-on-read `ModuleInput`."""

from .assembly import InputAssembly, build_module_input, data_quality, dependency_inputs
from .module_input import ModuleInput, TopicDicts, TopicViews
from .topic_cache import TopicInputCache

__all__ = [
    "InputAssembly",
    "ModuleInput",
    "TopicDicts",
    "TopicInputCache",
    "TopicViews",
    "build_module_input",
    "data_quality",
    "dependency_inputs",
]
