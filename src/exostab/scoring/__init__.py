"""Scoring lots with a fitted bundle: batch, Spark, HTTP serving, the pyfunc and explanations."""
