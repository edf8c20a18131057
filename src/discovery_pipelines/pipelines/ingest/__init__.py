"""``ingest``: a source dataset -> validated contract tables with query-level splits."""
