"""The policy stage (SPEC §6): policy documents -> gold.policy_tools, gold.policy_synergy,
bronze.policy_rejects. `stage` runs it (PolicyConfig, `run`); `synergy` and `text` hold its rules."""
