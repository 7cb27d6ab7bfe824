"""Silver: clean, deduplicated, classified and located rows.

- `classify`    the classify stage: bronze -> silver.patents, silver.applicants, silver.org_locations, silver.transfers
- `applicants`  applicant names, organisation types
- `locate`      applicant and transfer-party cities
- `controls`    the controls stage: panel inputs -> silver controls, gold.sample_log, er (SPEC §3, §5)
- `schema`      the TableSpecs of silver.patents and silver.transfers
"""
