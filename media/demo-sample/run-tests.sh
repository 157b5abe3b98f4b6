#!/bin/sh
# Runs every tests/*.test.js with node; fails when any of them fails.
cd "$(dirname "$0")" || exit 2
status=0
for t in tests/*.test.js; do
  if node "$t"; then echo "ok   $t"; else echo "FAIL $t"; status=1; fi
done
exit $status
