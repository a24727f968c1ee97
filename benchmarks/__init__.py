"""The overhead benchmark: the service with and without its telemetry, driven by wrk (``make bench``).

``python -m benchmarks`` runs it; ``python -m benchmarks.serve`` is the service as the benchmark starts it.
"""
