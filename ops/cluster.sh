#!/usr/bin/env bash
# A Spark standalone cluster on this machine, from the PySpark distribution in .venv:
# one master and two workers, bound to loopback only.
#   ops/cluster.sh start | stop | status | stop-worker N | kill-worker N
# `start` on a running cluster starts again any worker that is down; `stop-worker N` stops
# worker N (1 or 2) as `stop` does, `kill-worker N` SIGKILLs it (a crash: its executors exit
# when they lose their worker) — tests/integration/test_cluster.py loses a worker mid-run with them.
# Master URL: spark://127.0.0.1:7077 (override with GREENLINK_MASTER_PORT; 0 = any free port),
# printed by `start` and kept in <state>/master.url; logs and pids in .cache/cluster/ (override
# with GREENLINK_CLUSTER_STATE, e.g. one folder per test run). Worker size:
# GREENLINK_WORKER_CORES (1) and GREENLINK_WORKER_MEMORY (4g).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "cluster: run 'make setup' first" >&2; exit 2; }
SPARK_HOME=$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$PY"
STATE=${GREENLINK_CLUSTER_STATE:-"$ROOT/.cache/cluster"}
PORT=${GREENLINK_MASTER_PORT:-7077}
CORES=${GREENLINK_WORKER_CORES:-1}
MEM=${GREENLINK_WORKER_MEMORY:-4g}

start_workers() {  # MASTER: (re)start the workers that are not running
  local w started=()
  for w in 1 2; do
    alive "worker$w" && continue
    mkdir -p "$STATE/work$w"
    launch "worker$w" org.apache.spark.deploy.worker.Worker "$MASTER" --host 127.0.0.1 \
      --cores "$CORES" --memory "$MEM" --webui-port 0 --work-dir "$STATE/work$w"
    started+=("$w")
  done
  for w in "${started[@]}"; do wait_for "Successfully registered with master" "$STATE/worker$w.log" 60; done
}

worker_name() {  # N -> workerN, only for the two workers start launches
  case "${1:-}" in 1|2) echo "worker$1" ;; *) echo "cluster: worker number must be 1 or 2" >&2; exit 2 ;; esac
}

launch() {  # name, class, args...
  local name=$1; shift
  nohup "$SPARK_HOME/bin/spark-class" "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

wait_for() {  # pattern, log, seconds
  for _ in $(seq 1 "$3"); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 1; done
  echo "cluster: timed out waiting for '$1' in $2" >&2; tail -5 "$2" >&2; return 1
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

stop_one() {  # name: TERM, wait up to 30 s (workers stop their executors), then KILL
  alive "$1" || { rm -f "$STATE/$1.pid"; return 0; }
  local pid; pid=$(cat "$STATE/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/$1.pid"
}

case "${1:-}" in
  start)
    mkdir -p "$STATE"
    if alive master; then MASTER=$(cat "$STATE/master.url"); start_workers; echo "$MASTER"; exit 0; fi
    launch master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$PORT" --webui-port 0
    wait_for "I have been elected leader" "$STATE/master.log" 60
    # the port actually bound (PORT may be 0, or taken and retried by Spark)
    MASTER=$(grep -o 'Starting Spark master at spark://[0-9.]*:[0-9]*' "$STATE/master.log" | head -1 | awk '{print $NF}')
    echo "$MASTER" >"$STATE/master.url"
    start_workers
    echo "$MASTER"
    ;;
  stop)
    for n in worker1 worker2 master; do stop_one "$n"; done
    ;;
  stop-worker)
    n=$(worker_name "${2:-}") || exit 2
    stop_one "$n"
    ;;
  kill-worker)
    n=$(worker_name "${2:-}") || exit 2
    if alive "$n"; then kill -9 "$(cat "$STATE/$n.pid")"; fi
    rm -f "$STATE/$n.pid"
    ;;
  status)
    for n in master worker1 worker2; do
      if alive "$n"; then echo "$n running (pid $(cat "$STATE/$n.pid"))"; else echo "$n stopped"; fi
    done
    ;;
  *) echo "usage: ops/cluster.sh start|stop|status|stop-worker N|kill-worker N" >&2; exit 2 ;;
esac
