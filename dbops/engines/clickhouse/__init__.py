"""ClickHouse (engines.md 6): the HTTP adapter and its pure statement builders (`sql`)."""
