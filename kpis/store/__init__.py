"""Storage: engine, models, migrations, audit and repository functions."""
