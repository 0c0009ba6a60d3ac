"""Service benchmark: the entry point of `benchmarks/service_bench/` (what it measures, its flags and
its results file are described there and in docs/PERFORMANCE.md).

    python benchmarks/bench_service.py [--quick] [--broker memory|embedded|both] [--record] ...
    make bench    # the same on the mypyc build of d_a (PYTHONPATH=build/compiled)

Run as a script, benchmarks/ comes first on sys.path and d_a from PYTHONPATH or the installed package:
the build under test.
"""

from service_bench.cli import main

if __name__ == "__main__":
    main()
