"""exostab: risk of unstable potency for MSC-exosome lots."""

__version__ = "0.1.0"
