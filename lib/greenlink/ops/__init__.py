"""Operating the pipeline: the command line, the pipeline API, submission, diffs, analyst reads.

- `cli`        `greenlink …`: the command registry and entry point
- `commands`   one command-line module per stage command, `run` and `generate` (argparse ends there)
- `options`    the argparse options several commands share (add_common, add_full, add_quarantine)
- `pipeline`   `run_stages(spark, stages, PipelineConfig)`
- `submit`     spark-submit command lines for a cluster
- `diff`       `greenlink diff`: table changes between Delta versions
- `analyst`    Spark-free reads (delta-rs, DuckDB)
"""
