"""The log collector: receives KServe request-logger CloudEvents and appends prediction records."""
