"""The networks stage (SPEC §4): silver -> the gold city networks, city-year network variables
and maps. `stage` runs it (NetworksConfig, `run`), `settings` reads conf/networks.yaml; `inputs`,
`edges`, `metrics`, `centrality` and `figures` hold its transforms (docs/networks.md)."""
