#!/usr/bin/env bash
# Submit a greenlink stage to a Spark cluster (README "Cluster and scheduling"):
#   ops/submit.sh [--master URL] [--packages] [--py-files] [--dry-run] STAGE [stage options]
# The master comes from --master or $GREENLINK_MASTER; the stage runs with --profile cluster.
# Same command as `python -m greenlink.ops.submit` (see its --help).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "${GREENLINK_PYTHON:-$ROOT/.venv/bin/python}" -m greenlink.ops.submit "$@"
