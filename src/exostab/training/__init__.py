"""Training end to end: nested donor-grouped CV and the workflow that logs and registers it."""
