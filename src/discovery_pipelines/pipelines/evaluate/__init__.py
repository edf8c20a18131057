"""``evaluate``: BM25 / dense / hybrid retrieval scored on graded qrels, with a Good / Not Good verdict."""
