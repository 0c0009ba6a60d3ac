"""Scale-out benchmark: the entry point of `benchmarks/scale_out_bench/` (what it measures and its flags
are described there): 1 and 2 worker processes of a scaled-out group on the embedded broker, at 1,000
and 2,000 stations, trivial and heavy callbacks; backlog throughput, live latency, per-station costs.

    python benchmarks/bench_scale_out.py [--quick] [--runs backlog,live] [--callback trivial,heavy] ...
    PYTHONPATH=build/compiled python benchmarks/bench_scale_out.py   # on the mypyc build of d_a

Run as a script, benchmarks/ comes first on sys.path and d_a from PYTHONPATH or the installed package:
the build under test (the worker processes, spawned, import the same).
"""

from scale_out_bench.cli import main

if __name__ == "__main__":
    main()
