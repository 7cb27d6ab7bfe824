"""The panel stage: gold + silver -> gold.city_year_panel (SPEC §4–§6). `stage` runs it
(PanelConfig, `run`), `assembly` builds the rows, `settings` reads conf/panel.yaml."""
