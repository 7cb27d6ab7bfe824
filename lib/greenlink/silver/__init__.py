"""Silver: clean, deduplicated, classified and located rows.

- `stage`       the classify stage (ClassifyConfig, `run`): bronze -> silver.patents, silver.applicants, silver.org_locations, silver.transfers
               (skipped, incremental or full)
- `records`     its row rules: green classification, one record per application number, rejects, silver rows
- `incremental` the monthly path: only what the changed records reach, merged into silver
- `applicants`  applicant names, organisation types
- `locate`      applicant and transfer-party cities
- `tables`      the TableSpecs of silver.patents, silver.transfers, silver.applicants, silver.org_locations
"""
