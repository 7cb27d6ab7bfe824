"""Silver: clean, deduplicated, classified and located rows.

- `classify`    the classify stage: bronze -> silver.patents, silver.applicants, silver.org_locations, silver.transfers
- `applicants`  applicant names, organisation types
- `locate`      applicant and transfer-party cities
- `schema`      the TableSpecs of silver.patents and silver.transfers
"""
