"""Soak runs: steady load and periodic faults for hours, watched for leaks and drift."""
