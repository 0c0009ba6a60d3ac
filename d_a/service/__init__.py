"""The services: AsyncDataAnalysisService (asyncio) and DataAnalysisService (threads)."""

from .async_service import AsyncDataAnalysisService
from .sync_service import DataAnalysisService

__all__ = ["AsyncDataAnalysisService", "DataAnalysisService"]
