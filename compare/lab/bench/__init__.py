"""The benchmark of homework 3.8 (``python -m compare.bench``), one module per job.

- ``settings``: what is timed (the grid, the dtypes, the epoch's size, repeats) and the JSON's keys;
- ``flops``: the matrix products one training example costs;
- ``threads``: the same thread count for NumPy's BLAS and torch;
- ``machine``: which BLAS and CPU, and how busy other processes kept the CPUs;
- ``ceiling``: each library's GEMM throughput on one minibatch step's shapes;
- ``runners``: one training epoch of each implementation, on the same minibatches;
- ``noise``: when a median of timed epochs can be trusted, and which rows were noisy;
- ``targets``: the speed targets, checked (never asserted);
- ``point``: one grid point timed, its rows and samples;
- ``grid``: the whole run, what it logs, and its result for the JSON;
- ``table``: the rows and targets as the console shows them.
"""
