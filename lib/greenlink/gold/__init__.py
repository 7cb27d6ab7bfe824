"""Gold: the study's city-level tables, one package per stage (docs/architecture.md, "Layout").

- `policy/`    the policy stage (SPEC §6): `stage` (PolicyConfig, `run`), `synergy` (the policy
  records on Spark, regional synergy), `text` (one record's parsing, the dictionaries)
- `controls/`  the controls stage: `stage` (ControlsConfig, `run`: panel inputs -> silver controls,
  gold.sample_log, er; it writes silver tables too: a stage lives in the package of the last layer
  it writes), `checks` (its row rules), `entropy` (SPEC §5 er)
- `networks/`  the networks stage (SPEC §4): `stage` (NetworksConfig, `run`), `settings`
  (conf/networks.yaml), `inputs` (what enters the networks), `edges`, `metrics` (the graph,
  city-year variables, summary), `centrality` (betweenness, GraphFrames algorithms), `figures` (maps)
- `panel/`     the panel stage: `stage` (PanelConfig, `run`), `assembly` (the panel's rows),
  `settings` (conf/panel.yaml, which the controls stage reads too)
- `sample`     the SPEC §3 sample: the rule (`sample_log`, the controls stage writes it) and
  `sample_cities` (what the networks and panel stages read)
- `tables`     the TableSpecs of every table the gold stages write, with their vocabulary
"""
