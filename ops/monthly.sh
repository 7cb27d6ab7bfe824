#!/usr/bin/env bash
# The monthly production run (ops/cron/greenlink.cron, ops/airflow/greenlink_dag.py):
# the whole pipeline, submitted to the cluster, on the newest dump folder.
#   ops/monthly.sh [--dry-run]     submit `greenlink run --all --input <newest dump>`
#   ops/monthly.sh --newest        only print the newest dump folder
# Environment: GREENLINK_DUMPS (folder of dump folders, default /data/greenlink/dumps),
# GREENLINK_WAREHOUSE (warehouse root, default /data/greenlink/warehouse), GREENLINK_MASTER.
# The newest dump is the last folder by name (name dumps YYYY-MM or YYYYMMDD) that holds a
# patents/ folder; hidden folders are ignored, so copy a dump in as .incoming-… and rename
# it when complete.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUMPS=${GREENLINK_DUMPS:-/data/greenlink/dumps}
WAREHOUSE=${GREENLINK_WAREHOUSE:-/data/greenlink/warehouse}

newest() {
  local found=""
  for d in "$DUMPS"/*/; do
    [ -d "${d}patents" ] && found=${d%/}
  done
  [ -n "$found" ] || { echo "monthly: no dump folder with patents/ in $DUMPS" >&2; return 1; }
  echo "$found"
}

case "${1:-}" in
  --newest) newest ;;
  ""|--dry-run)
    input=$(newest)
    echo "monthly: $(date -u +%FT%TZ) pipeline on $input -> $WAREHOUSE" >&2
    exec "$ROOT/ops/submit.sh" ${1:+"$1"} run --all --input "$input" --warehouse "$WAREHOUSE" ;;
  *) echo "usage: ops/monthly.sh [--dry-run | --newest]" >&2; exit 2 ;;
esac
