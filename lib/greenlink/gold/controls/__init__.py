"""The controls stage: yearbook, provincial and city inputs -> silver controls, gold.sample_log
(SPEC §3 sample), er (SPEC §5). `stage` runs it (ControlsConfig, `run`); `checks` and `entropy`
hold its rules; the sample rule is `gold.sample` (the networks and panel stages read the sample)."""
