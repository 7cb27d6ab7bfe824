"""Reference data and parsers of raw identifiers (no Spark stage of their own).

- `gazetteer`  city units, provinces, city-name keys (cpca's adcodes)
- `ipc`        IPC symbol normalisation
- `inventory`  the WIPO IPC Green Inventory
- `ids`        CNIPA application numbers
- `dates`      dates as raw exports write them
"""
