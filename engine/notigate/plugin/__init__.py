"""The plugin contract: hook specifications, the plugin manager, and what a platform or channel implements."""
