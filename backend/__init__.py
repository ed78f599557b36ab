"""NASBoard backend: settings, database, REST API and the `nasboard` command line."""
