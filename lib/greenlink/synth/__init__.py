"""Synthetic patent world generator, a test-world tool rather than a stage (issue 2, item 5; docs/generator.md).

`greenlink generate --patents N --seed S --out DIR` writes the raw inputs of SPEC §1 in
their real formats (docs/raw_formats.md) and a `truth/` folder holding what a correct
pipeline must compute from them. Modules:

- `params`      conf/generator*.yaml as validated data
- `rng`         deterministic hashing of (seed, salt, id) on Spark and numpy streams on the driver
- `places`      place-name screening, verified address forms (cpca), postcodes
- `names`       organisations and individuals: names, types, home cities, addresses
- `ipcpool`     green / non-green IPC symbol pools from the WIPO inventory, SPEC §2 oracle
- `netmetrics`  SPEC §4 city-level network variables from edge lists (numpy Brandes)
- `cities`      the 338 cities: sizes, sample, administrative level, HSR years, gravity
- `regressors`  exogenous regressors: yearbook controls, province IP statistics, policy plan, er
- `realise`     city strengths -> collaboration and transfer units -> SPEC §4 network variables
- `system`      the SPEC §7 city-year system on the driver: `simulate(seed, ...)` in named steps
- `plan`        strata of patents and transfers realising the simulated city-year world
- `records`     Spark: patents, applicants and transfers on executors
- `render`      Spark -> raw files with stable bytes (CSV/GBK, Parquet, xlsx)
- `panelfiles`  yearbook, province, city attributes and policy documents
- `truth`       truth/ tables from the generated records
- `world`       orchestration: `generate` (the command line is greenlink.ops.commands.generate)
- `nextmonth`   the following month's dump of a world or dump (`--next-month-of`, issue 23)

Also here, for tests and bench only: `estimation_panel`, a plain SPEC §7 city-year panel
(`simulate_panel`) the estimation tests and bench/bench_estimate.py estimate on; `montecarlo`,
the estimators on simulated worlds (pseudo-true values on the generator's panels, the
study-shape worlds of Tables 2 and 3; bench/bench_montecarlo.py).
"""
