"""Bronze: `greenlink ingest`, raw patent and transfer dumps -> bronze Delta tables (docs/ingest.md).

- `layout`   finds the input files, their format, encoding, fingerprint and header mapping
- `filechecks` checks every file before any row is read; refused files with a reason code
- `readers`  turns each format into one DataFrame of raw string fields with lineage
- `checks`   pure DataFrame functions: record hash, duplicates, reject reasons, bronze rows
- `fields`   raw fields parsed by Spark: blanks, application numbers, dates (rules: `reference.ids`, `dates`)
- `excel`    Excel workbooks on the driver (header, cell text)
- `tables`   the TableSpecs of bronze.patents_raw, bronze.transfers_raw, bronze.rejects, bronze.file_rejects
  with their vocabulary (reason codes, patent types)
- `stage`    the run: reconcile counts, write idempotently, record `_meta.runs`
  and `run(spark, IngestConfig)` (the command line: `greenlink.ops.commands.ingest`)
"""
