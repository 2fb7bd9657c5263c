"""The evaluation core that the benchmark scripts, the trainer's validation and the demos
share: `core` (samples, protocols, the scoring loop), `predictors` (the model, the baselines,
test-time augmentation) and `reports` (JSON, Markdown, CSV, worst-frame strips)."""
