"""minerals-tracker: which governments imposed, suspended or lifted controls on critical minerals."""

__version__ = "0.1.0"
