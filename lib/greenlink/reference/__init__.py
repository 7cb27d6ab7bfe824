"""Reference data and pure parsers of raw identifiers (no Spark stage of their own, no Spark).

- `gazetteer`  city units, provinces, city-name keys (cpca's adcodes)
- `ipc`        IPC symbol normalisation: the rules as data, the Python reference
- `inventory`  the WIPO IPC Green Inventory: entries, rules, the green oracle
- `ids`        CNIPA application numbers: their form, the check digit
- `dates`      dates as raw exports write them: the accepted forms

Their Spark side lives with the stage that first uses it: `bronze.fields` (application
numbers, dates, blanks), `silver.ipc_columns` and `silver.green` (IPC fields, the green
classification).
"""
