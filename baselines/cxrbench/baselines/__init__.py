"""Reference models: the conditional DDPM with its optimized sampler, and the classifier recipe."""
