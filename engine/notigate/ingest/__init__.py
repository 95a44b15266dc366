"""Callbacks and error reports in; verified, normalized, stored notifications and their deliveries out."""
