"""Training: one loop for every model, many runs stacked into one, step budgets, and where jobs run
(here, in processes, on Ray)."""
