"""What a scientist opens: the batch report, the monitoring page and their figures."""
