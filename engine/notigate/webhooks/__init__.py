"""Webhook endpoints (from the config and the API), and the events they subscribe to."""
