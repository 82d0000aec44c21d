"""The bottom layer: the table schema, the component library and structures, loading and
validating tables, the system key, atomic I/O and the one TOML config loader."""
