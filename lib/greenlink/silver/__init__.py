"""Silver: clean, deduplicated, classified and located rows.

- `stage`       the classify stage (ClassifyConfig, `run`): bronze -> silver.patents, silver.applicants, silver.org_locations, silver.transfers
               (skipped, incremental or full)
- `records`     its row rules: green classification, one record per application number, rejects, silver rows
- `incremental` the monthly path: only what the changed records reach, merged into silver
- `ipc_columns` IPC fields as Spark columns (the Spark side of `reference.ipc`)
- `green`       the green classification on Spark: the inventory (`reference.inventory`) as a broadcast join
- `applicants`  applicant names, organisation types
- `locate`      applicant and transfer-party cities
- `tables`      the TableSpecs of silver.patents, silver.transfers, silver.applicants, silver.org_locations
"""
