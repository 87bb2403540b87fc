//! node_exporter figures and the concentrator ring (in progress).
