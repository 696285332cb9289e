"""Reading at the edge.

Vendor readers, protein identity, the lot sheet and its contract, runs, output files.
"""
