"""`python -m service_bench` (from benchmarks/): the same as `python benchmarks/bench_service.py`."""

from .cli import main

main()
