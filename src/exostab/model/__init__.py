"""The risk model.

Features, prior + booster, structure selection, baselines, CV splits, evaluation, the
applicability domain, the bank trajectory and the fitted bundle.
"""
