"""lswap's benchmarks, installed as ``lswap_benchmarks`` and run by ``lswap bench NAME``.

Each module registers one command on the ``bench`` group through
``register(app)``. Benchmarks print ratios against a baseline measured in the
same run; they never assert timings.
"""
