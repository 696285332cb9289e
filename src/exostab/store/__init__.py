"""The mlflow store: tracking runs, the registry look-ups and the model card."""
