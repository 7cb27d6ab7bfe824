"""Gold: the study's city-level tables.

- `sample`, `entropy`        SPEC §3 sample rule, SPEC §5 environmental regulation (er)
- `network_stage`            the networks stage (SPEC §4); `networks` its transforms and tables,
  `centrality` betweenness and GraphFrames algorithms, `netfigures` the maps
- `policy`                   the policy stage (SPEC §6): policy tools and regional synergy
- `panel`, `panelconf`       the panel stage: gold.city_year_panel and Table 1; conf/panel.yaml
"""
