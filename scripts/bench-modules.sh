#!/usr/bin/env bash
# The custom modules' benchmarks, full size. Each starts its own throwaway
# PostgreSQL, writes JSON figures to bench/results/ and prints a table.
set -euo pipefail
mkdir -p bench/results
python bench/index_build.py --rows "${ODOO_SCALE_BENCH_ROWS:-1000000}"
python bench/index_catalog.py --repeats 1
python bench/partitions.py
echo "figures: $(ls bench/results/*.json | tr '\n' ' ')"
