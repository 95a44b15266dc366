"""Configuration: the settings structs, reading ``notigate.toml`` into them, durations and URL checks."""
