//! spandb-query (in progress).
