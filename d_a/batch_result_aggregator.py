"""The original d_a's import path of batch aggregation (`d_a.batch_result_aggregator`); it lives in `d_a.batching`."""

from .batching import BatchCollector, BatchResultAggregator

__all__ = ["BatchCollector", "BatchResultAggregator"]
