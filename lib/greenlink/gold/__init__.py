"""Gold: the study's city-level tables.

- `controls`                 the controls stage: panel inputs -> silver controls, gold.sample_log, er;
  `control_checks` its row rules (writes silver tables too: a stage lives in the package of the
  last layer it writes)
- `sample`, `entropy`        SPEC §3 sample rule, SPEC §5 environmental regulation (er)
- `network_stage`            the networks stage (SPEC §4); `network_inputs` what enters the networks,
  `networks` the edges, `network_metrics` the graph, city-year variables and summary,
  `centrality` betweenness and GraphFrames algorithms, `netfigures` the maps
- `policy`                   the policy stage (SPEC §6): policy tools and regional synergy;
  `policy_text` one record's parsing
- `panel`, `panelconf`       the panel stage: gold.city_year_panel and Table 1; conf/panel.yaml
- `tables`                   the TableSpecs of every table the gold stages write, with their vocabulary
"""
