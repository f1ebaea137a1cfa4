"""On-demand benchmarks (not part of the test suite): see docs/performance.md."""
