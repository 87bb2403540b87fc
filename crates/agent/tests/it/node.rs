//! node_exporter figures from real exposition text (in progress).
