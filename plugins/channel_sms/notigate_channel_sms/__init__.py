"""PLACEHOLDER until the plugin lands."""
