"""The original d_a's import path of the services (`d_a.analysis_service`); they live in `d_a.service`."""

from .service import AsyncDataAnalysisService, DataAnalysisService

__all__ = ["AsyncDataAnalysisService", "DataAnalysisService"]
