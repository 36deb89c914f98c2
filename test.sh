#!/usr/bin/env bash
# Runs the whole test suite in Release and ends with one line: "N passed, N failed[, N skipped]".
# Usage: ./test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Schedulers]
set -uo pipefail
cd "$(dirname "$0")"
results=$(mktemp -d)
dotnet test DiffusionSharp.slnx -c Release --logger "trx;LogFilePrefix=run" --results-directory "$results" "$@"
rc=$?
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
rm -rf "$results"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # build failure or crash: never report green
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
exit "$rc"
