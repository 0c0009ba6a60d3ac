"""The original d_a's import path of batch aggregation, which lives in `d_a.service.batching`."""

from .service.batching import BatchCollector, BatchResultAggregator

__all__ = ["BatchCollector", "BatchResultAggregator"]
