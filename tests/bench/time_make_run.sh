#!/usr/bin/env bash
# Seconds from `make run` until /readyz is green, then Ctrl-C.
#   tests/bench/time_make_run.sh [PORT]          (run twice in a fresh clone: cold, then warm)
set -euo pipefail
port=${1:-8100}
cd "$(dirname "$0")/../.."
start=$(date +%s.%N)
PORT=$port setsid make run > "var-make-run-$port.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "make run exited; see var-make-run-$port.log"; exit 1; }
    sleep 0.2
done
end=$(date +%s.%N)
echo "ready after $(python3 -c "print(round($end - $start, 1))") s"
kill -INT -- "-$pid"
wait "$pid" 2>/dev/null || true
