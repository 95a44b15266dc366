"""Who hears about an event and when: rules, globs, quiet hours, silences, and the plan each route becomes."""
