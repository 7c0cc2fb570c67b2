"""m365bot's benchmarks: ``python -m bench`` runs the side-by-side suite (issue 10); the
``bench_*.py`` scripts measure one part each and run on their own."""
