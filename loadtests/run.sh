#!/usr/bin/env bash
# One load-test run, start to finish, on loopback only:
#   fresh store (SQLite file or a private redis-server) and keys in a temp dir,
#   `statuspass serve` on a free port, seed.py, Locust headless for a bounded time,
#   then the CSVs, Locust's HTML report, summary.md and latency.png in the results dir.
# Everything it starts is stopped on exit (by PID). Exits non-zero when any request failed.
#
#   loadtests/run.sh [--store sqlite|redis] [--server S] [--workers N] [--users U] [--spawn-rate R]
#                    [--duration SECONDS] [--results DIR] [--citizens N] [--cards M]
#                    [--proofs P] [--wait MIN,MAX] [--max-requests N] [--label TEXT]
#                    [--appendfsync always|everysec]
# The same settings as environment variables: STORE, SERVER, WORKERS, USERS, SPAWN_RATE, DURATION,
# RESULTS_DIR, CITIZENS, CARDS, PROOFS, WAIT, MAX_REQUESTS, LABEL, APPENDFSYNC.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
LOCUST="${LOCUST:-$(dirname "$PY")/locust}"

STORE="${STORE:-sqlite}"
SERVER="${SERVER:-}"  # the ASGI server; empty: `statuspass serve`'s default
WORKERS="${WORKERS:-1}"
USERS="${USERS:-50}"
SPAWN_RATE="${SPAWN_RATE:-25}"
DURATION="${DURATION:-60}"
RESULTS_DIR="${RESULTS_DIR:-}"
CITIZENS="${CITIZENS:-2000}"
CARDS="${CARDS:-500}"
PROOFS="${PROOFS:-1000}"
COUNTERS="${COUNTERS:-4}"
WAIT="${WAIT:-0.1,0.5}"
MAX_REQUESTS="${MAX_REQUESTS:-2000000}"
LABEL="${LABEL:-}"
APPENDFSYNC="${APPENDFSYNC:-always}"  # Redis: docs/redis.conf's setting, or everysec
MAX_DURATION=3600  # a hard ceiling: nothing here runs longer than an hour

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --store) STORE="$2"; shift 2 ;;
    --server) SERVER="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --spawn-rate) SPAWN_RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --results) RESULTS_DIR="$2"; shift 2 ;;
    --citizens) CITIZENS="$2"; shift 2 ;;
    --cards) CARDS="$2"; shift 2 ;;
    --proofs) PROOFS="$2"; shift 2 ;;
    --counters) COUNTERS="$2"; shift 2 ;;
    --wait) WAIT="$2"; shift 2 ;;
    --max-requests) MAX_REQUESTS="$2"; shift 2 ;;
    --label) LABEL="$2"; shift 2 ;;
    --appendfsync) APPENDFSYNC="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

for n in WORKERS USERS SPAWN_RATE DURATION CITIZENS CARDS PROOFS COUNTERS MAX_REQUESTS; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || { echo "$n must be a whole number, not '${!n}'" >&2; exit 2; }
done
(( DURATION >= 1 && DURATION <= MAX_DURATION )) \
  || { echo "duration must be 1..$MAX_DURATION seconds" >&2; exit 2; }
[[ "$STORE" == sqlite || "$STORE" == redis ]] || { echo "store is sqlite or redis" >&2; exit 2; }
[[ "$APPENDFSYNC" == always || "$APPENDFSYNC" == everysec ]] || { echo "appendfsync is always or everysec" >&2; exit 2; }
[[ "$WAIT" =~ ^[0-9.]+,[0-9.]+$ ]] || { echo "wait is MIN,MAX in seconds" >&2; exit 2; }

STAMP="$(date +%Y%m%d-%H%M%S)"
RESULTS_DIR="${RESULTS_DIR:-$HERE/results/$STAMP-$STORE${SERVER:+-$SERVER}-w$WORKERS-u$USERS}"
mkdir -p "$RESULTS_DIR"
RESULTS_DIR="$(cd "$RESULTS_DIR" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/statuspass-load.XXXXXX")"

SERVER_PID=""
REDIS_PID=""
MONITOR_PID=""
stop_pid() {  # stop_pid PID: TERM, wait up to 20 s, then KILL (its process group)
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop_pid "$MONITOR_PID"
  stop_pid "$SERVER_PID"
  stop_pid "$REDIS_PID"
  [[ -f "$WORK/serve.log" ]] && cp "$WORK/serve.log" "$RESULTS_DIR/serve.log" 2>/dev/null
  # redis-server's own log: AOF rewrites and slow fsyncs show there, with their times
  [[ -f "$WORK/redis.log" ]] && cp "$WORK/redis.log" "$RESULTS_DIR/redis.log" 2>/dev/null
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
log() { echo "[run $(date +%H:%M:%S)] $*" >&2; }

PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
export STATUSPASS_KEYS_DIR="$WORK/keys"
export STATUSPASS_ISSUER="$URL"
export STATUSPASS_DEV_IDP=1
export STATUSPASS_ENV=development
unset STATUSPASS_CONFIG

if [[ "$STORE" == redis ]]; then
  REDIS_PORT="$(free_port)"
  mkdir -p "$WORK/redis"
  # a private, throwaway server: loopback only, the production settings of
  # docs/redis.conf (AOF, appendfsync always, ...) but no RDB snapshots (nothing to keep)
  setsid redis-server "$ROOT/docs/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$WORK/redis" --save "" --protected-mode yes --logfile "$WORK/redis.log" \
    --appendfsync "$APPENDFSYNC" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$REDIS_PORT" ping >/dev/null
  # Redis's own record of what stalled it (fsync, expiry cycles, slow scripts) for 10 ms
  # or more: read back into redis_latency.txt after the run
  redis-cli -p "$REDIS_PORT" config set latency-monitor-threshold 10 >/dev/null
  export STATUSPASS_STORE_URL="redis://127.0.0.1:$REDIS_PORT/0"
else
  export STATUSPASS_STORE_URL="sqlite:///$WORK/statuspass.sqlite3"
fi

# The store must be usable before anything else (a Redis store the service cannot open
# fails here), and the signing keys and the development identity provider's key are
# created now, once, so that N workers do not race to create them.
"$PY" - <<'EOF'
import asyncio, os, sys
from app.auth import dev_idp_jwks
from app.errors import ConfigError
from app.keys.ring import ensure_keys
from app.storage import open_store

async def probe() -> None:
    store = await open_store(os.environ["STATUSPASS_STORE_URL"])
    try:
        await store.ping()
    finally:
        await store.close()
try:
    asyncio.run(probe())
except ConfigError as exc:
    sys.exit(f"store not usable: {exc}")
# signing keys first: a keys dir holding only the dev IdP key does not count as fresh
ensure_keys(os.environ["STATUSPASS_KEYS_DIR"], production=False)
dev_idp_jwks(os.environ["STATUSPASS_KEYS_DIR"])
EOF

log "service: $URL, store $STORE, $WORKERS worker(s); results in $RESULTS_DIR"
setsid "$PY" -m app serve --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
  ${SERVER:+--server "$SERVER"} >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fsS "$URL/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$URL/ready" >/dev/null || { echo "service not ready" >&2; exit 1; }

"$PY" "$HERE/seed.py" --url "$URL" --out "$RESULTS_DIR/seed.json" --citizens "$CITIZENS" \
  --cards "$CARDS" --proofs "$PROOFS" --id-tokens "$(( CITIZENS / 2 ))" --counters "$COUNTERS"

# how busy the machine is before the load starts (other work skews the figures)
"$PY" "$HERE/monitor.py" --baseline 3 >"$RESULTS_DIR/machine_before.txt" || true
"$PY" "$HERE/monitor.py" --sid "$SERVER_PID" --out "$RESULTS_DIR/resources.csv" \
  --max-seconds "$(( DURATION + 120 ))" &
MONITOR_PID=$!

# The service's own latency histogram around the run (summary: "Inside the service").
# With several workers each writes its counts every 5 s (docs/operations.md, "Metrics
# with several workers"): wait that long, so every worker's part is current.
scrape_metrics() {
  (( WORKERS > 1 )) && sleep 6
  curl -fsS "$URL/metrics" >"$RESULTS_DIR/$1" || rm -f "$RESULTS_DIR/$1"
}
scrape_metrics metrics_before.txt

log "locust: $USERS users (spawn $SPAWN_RATE/s), ${DURATION}s, wait ${WAIT}s"
LOCUST_RC=0
# Locust's own CPU time (it shares the machine with the service)
TIMER=""
[[ -x /usr/bin/time ]] && TIMER="/usr/bin/time -o $RESULTS_DIR/locust_cpu.txt -f %U,%S,%e"
LOADTEST_SEED="$RESULTS_DIR/seed.json" \
LOADTEST_WAIT_MIN="${WAIT%,*}" LOADTEST_WAIT_MAX="${WAIT#*,}" \
LOADTEST_MAX_REQUESTS="$MAX_REQUESTS" \
  timeout --kill-after=10 "$(( DURATION + 90 ))" \
  $TIMER "$LOCUST" -f "$HERE/locustfile.py" --headless --host "$URL" \
    -u "$USERS" -r "$SPAWN_RATE" -t "${DURATION}s" --stop-timeout 10 \
    --csv "$RESULTS_DIR/locust" --csv-full-history --html "$RESULTS_DIR/report.html" \
    --only-summary --loglevel WARNING \
    >"$RESULTS_DIR/locust.log" 2>&1 || LOCUST_RC=$?
stop_pid "$MONITOR_PID"
MONITOR_PID=""
scrape_metrics metrics_after.txt
if [[ -n "${REDIS_PID:-}" ]]; then
  {
    echo "# LATENCY LATEST (event, time of the latest, its ms, the worst ms); threshold 10 ms"
    redis-cli -p "$REDIS_PORT" --no-raw latency latest
    for event in $(redis-cli -p "$REDIS_PORT" --raw latency latest | awk 'NR % 4 == 1'); do
      echo "# LATENCY HISTORY $event (unix time, ms)"
      redis-cli -p "$REDIS_PORT" --raw latency history "$event" | paste - -
    done
    echo "# redis-server CPU seconds (user system) over its whole life"
    awk -v tck="$(getconf CLK_TCK)" '{print $14 / tck, $15 / tck}' "/proc/$REDIS_PID/stat"
  } >"$RESULTS_DIR/redis_latency.txt" 2>&1 || true
fi

SUMMARY_RC=0
"$PY" "$HERE/summarize.py" "$RESULTS_DIR" \
  --title "${LABEL:-$STORE, $WORKERS worker(s), $USERS users, ${DURATION}s}" \
  --command "loadtests/run.sh --store $STORE${SERVER:+ --server $SERVER} --workers $WORKERS --users $USERS --spawn-rate $SPAWN_RATE --duration $DURATION --wait $WAIT$([[ $STORE == redis && $APPENDFSYNC != always ]] && echo " --appendfsync $APPENDFSYNC")" \
  || SUMMARY_RC=$?
cat "$RESULTS_DIR/summary.md"
if (( LOCUST_RC != 0 )); then
  log "locust exited with $LOCUST_RC (see $RESULTS_DIR/locust.log)"
  exit 1
fi
exit "$SUMMARY_RC"
