"""Runtime every stage uses: session, config, paths, errors, the warehouse lock, `_meta.runs`,
jars, Delta table I/O (`tables`), the table catalog, shared text/year helpers and reject rules.

- `session`   the SparkSession (profile, Delta, jars, warehouse root, reports folder)
- `config`    YAML profiles and reference files as validated data; the study years
- `paths`     where conf/, jars/ and .cache/ live
- `errors`    `UserError`: a one-line message the CLI prints
- `lock`      one writer per warehouse
- `runs`      `_meta.runs` records of every job
- `jars`      Maven coordinates and the project-local jar cache (`python -m greenlink.core.jars fetch`)
- `tables`    Delta I/O: `TableSpec`, idempotent writes (named for Delta tables, not the article's Tables)
- `catalog`   every table's TableSpec by name
- `text`      one width fold, NFKC key, plausible years, `parse_years`
- `rejects`   first failing check, first-of-group repeats, accepted rows
- `printable` input values made safe for messages and detail columns
"""
