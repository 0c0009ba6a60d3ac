"""The services: AsyncDataAnalysisService (asyncio) and DataAnalysisService (threads)."""

from .aio import AsyncDataAnalysisService
from .sync import DataAnalysisService

__all__ = ["AsyncDataAnalysisService", "DataAnalysisService"]
