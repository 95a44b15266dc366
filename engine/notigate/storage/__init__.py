"""The database: connection, tables, migrations, batched writes, and every SQL statement the gateway runs."""
