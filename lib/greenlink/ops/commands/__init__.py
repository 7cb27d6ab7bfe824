"""The command-line layer: one module per `greenlink` command that runs a stage, each with
`configure(parser)` (its options), `config(args)` (the options as the stage's typed, frozen
config) and `main(args)` (checks that need no Spark, the session, the stage's `run`).
argparse ends here: stages take their config dataclass (`run(spark, config)`)."""
