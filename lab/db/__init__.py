"""Databases the lab can test: how to set one up on a runtime and talk to it."""
