//! Latency cells and the exact ground truth per SLO group (DESIGN §5.4).
//!
//! Latencies are whole milliseconds, as the Linkerd proxy records them. A request is counted
//! in one *cell*; the cells are the union of the Linkerd `response_latency_ms` bounds and the
//! Traefik default bounds (0.1, 0.3, 1.2, 5 s), so one draw feeds both histograms exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Finite `response_latency_ms` bounds of the Linkerd proxy (milliseconds).
pub const LINKERD_LE_MS: [u64; 25] = [
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
    30000, 40000, 50000,
];
/// Linkerd buckets including `+Inf`.
pub const LINKERD_BUCKETS: usize = LINKERD_LE_MS.len() + 1;
/// Traefik's default `--metrics.prometheus.buckets`, in seconds.
pub const TRAEFIK_LE_S: [f64; 4] = [0.1, 0.3, 1.2, 5.0];
/// Traefik buckets including `+Inf`.
pub const TRAEFIK_BUCKETS: usize = TRAEFIK_LE_S.len() + 1;
/// Upper bounds (ms) of the cells; the last cell is `+Inf`.
pub const CELL_UPPER_MS: [u64; CELLS - 1] = [
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 1200, 2000, 3000, 4000, 5000, 10000,
    20000, 30000, 40000, 50000,
];
/// Number of latency cells (finite ones plus `+Inf`).
pub const CELLS: usize = 27;

/// Counts per latency cell.
pub type Cells = [u64; CELLS];

/// A latency written into `_sum` for one request of a cell: a whole number of ms inside it.
pub fn cell_value_ms(cell: usize) -> u64 {
    if cell == CELLS - 1 {
        return 60_000;
    }
    let hi = CELL_UPPER_MS[cell];
    let lo = if cell == 0 { 0 } else { CELL_UPPER_MS[cell - 1] };
    // Geometric middle, kept inside (lo, hi].
    let mid = ((lo.max(1) as f64) * hi as f64).sqrt().round() as u64;
    mid.clamp(lo + 1, hi).min(hi)
}

/// Cumulative Linkerd bucket counts (`le` = [`LINKERD_LE_MS`], then `+Inf`) of some cells.
pub fn linkerd_cumulative(cells: &Cells) -> [u64; LINKERD_BUCKETS] {
    cumulative(cells, |le| LINKERD_LE_MS.iter().position(|b| *b == le))
}

/// Cumulative Traefik bucket counts (`le` = [`TRAEFIK_LE_S`], then `+Inf`) of some cells.
pub fn traefik_cumulative(cells: &Cells) -> [u64; TRAEFIK_BUCKETS] {
    cumulative(cells, |le| {
        TRAEFIK_LE_S.iter().position(|b| (b * 1000.0) as u64 == le)
    })
}

fn cumulative<const N: usize>(cells: &Cells, bucket_of: impl Fn(u64) -> Option<usize>) -> [u64; N] {
    let mut out = [0u64; N];
    let mut running = 0;
    let mut bucket = 0;
    for (cell, count) in cells.iter().enumerate() {
        running += count;
        let closes = if cell == CELLS - 1 {
            Some(N - 1)
        } else {
            bucket_of(CELL_UPPER_MS[cell])
        };
        if let Some(b) = closes {
            // Every bucket up to and including `b` is now final.
            while bucket <= b {
                out[bucket] = running;
                bucket += 1;
            }
        }
    }
    out
}

/// One SLO group as an agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GroupKey {
    /// Ingress traffic by domain (the Traefik pods' inbound `authority`, or the Traefik
    /// service an Ingress maps the host to).
    Ingress { domain: String },
    /// Service-to-service traffic: (client namespace, client workload, dst namespace, dst service).
    Service {
        source_namespace: String,
        source: String,
        namespace: String,
        target: String,
    },
}

/// Exact counts of one group since the simulation started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTruth {
    pub total: u64,
    pub success: u64,
    pub failure: u64,
    /// Requests per latency cell.
    pub cells: Cells,
    /// Sum of the recorded latencies, whole ms.
    pub latency_sum_ms: u64,
    /// Requests per HTTP status code.
    pub codes: BTreeMap<u16, u64>,
}

impl GroupTruth {
    pub fn record(&mut self, code: u16, cells: &Cells) {
        let n: u64 = cells.iter().sum();
        self.total += n;
        if code >= 500 {
            self.failure += n;
        } else {
            self.success += n;
        }
        for (i, c) in cells.iter().enumerate() {
            self.cells[i] += c;
            self.latency_sum_ms += c * cell_value_ms(i);
        }
        *self.codes.entry(code).or_default() += n;
    }

    /// Cumulative `response_latency_ms` bucket counts.
    pub fn linkerd_buckets(&self) -> [u64; LINKERD_BUCKETS] {
        linkerd_cumulative(&self.cells)
    }

    /// Cumulative `traefik_*_request_duration_seconds` bucket counts.
    pub fn traefik_buckets(&self) -> [u64; TRAEFIK_BUCKETS] {
        traefik_cumulative(&self.cells)
    }

    /// What happened between `earlier` (a previous snapshot of this group) and now.
    pub fn since(&self, earlier: &GroupTruth) -> GroupTruth {
        let mut out = GroupTruth {
            total: self.total - earlier.total,
            success: self.success - earlier.success,
            failure: self.failure - earlier.failure,
            latency_sum_ms: self.latency_sum_ms - earlier.latency_sum_ms,
            ..GroupTruth::default()
        };
        for i in 0..CELLS {
            out.cells[i] = self.cells[i] - earlier.cells[i];
        }
        for (code, n) in &self.codes {
            let d = n - earlier.codes.get(code).copied().unwrap_or(0);
            if d > 0 {
                out.codes.insert(*code, d);
            }
        }
        out
    }
}

/// The ground truth of a whole cluster: every group, cumulative since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// Simulated time of this snapshot (unix ms).
    pub at_ms: i64,
    pub groups: BTreeMap<GroupKey, GroupTruth>,
}

impl Truth {
    pub fn group(&self, key: &GroupKey) -> Option<&GroupTruth> {
        self.groups.get(key)
    }

    pub fn ingress(&self, domain: &str) -> Option<&GroupTruth> {
        self.groups.get(&GroupKey::Ingress {
            domain: domain.to_owned(),
        })
    }

    pub fn service(
        &self,
        source_namespace: &str,
        source: &str,
        namespace: &str,
        target: &str,
    ) -> Option<&GroupTruth> {
        self.groups.get(&GroupKey::Service {
            source_namespace: source_namespace.to_owned(),
            source: source.to_owned(),
            namespace: namespace.to_owned(),
            target: target.to_owned(),
        })
    }

    /// The traffic between `earlier` and this snapshot, per group (groups without traffic in
    /// between are left out).
    pub fn since(&self, earlier: &Truth) -> Truth {
        let empty = GroupTruth::default();
        let groups = self
            .groups
            .iter()
            .map(|(k, g)| (k.clone(), g.since(earlier.groups.get(k).unwrap_or(&empty))))
            .filter(|(_, g)| g.total > 0)
            .collect();
        Truth {
            at_ms: self.at_ms,
            groups,
        }
    }

    /// The JSON served at `GET /sim/truth`.
    pub fn to_json(&self) -> serde_json::Value {
        let groups: Vec<_> = self
            .groups
            .iter()
            .map(|(key, g)| {
                let mut v = serde_json::to_value(key).unwrap_or_default();
                let obj = v.as_object_mut().expect("group keys serialize as objects");
                obj.insert("total_requests".into(), g.total.into());
                obj.insert("success_requests".into(), g.success.into());
                obj.insert("failure_requests".into(), g.failure.into());
                obj.insert("latency_sum_ms".into(), g.latency_sum_ms.into());
                obj.insert("latency_le_ms".into(), serde_json::json!(LINKERD_LE_MS));
                obj.insert(
                    "latency_buckets".into(),
                    serde_json::json!(g.linkerd_buckets().to_vec()),
                );
                obj.insert("traefik_le_seconds".into(), serde_json::json!(TRAEFIK_LE_S));
                obj.insert(
                    "traefik_buckets".into(),
                    serde_json::json!(g.traefik_buckets().to_vec()),
                );
                let codes: serde_json::Map<_, _> = g
                    .codes
                    .iter()
                    .map(|(c, n)| (c.to_string(), (*n).into()))
                    .collect();
                obj.insert("status_codes".into(), codes.into());
                v
            })
            .collect();
        serde_json::json!({ "at_ms": self.at_ms, "groups": groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_map_onto_both_bucket_sets() {
        let mut cells = [0u64; CELLS];
        for (i, c) in cells.iter_mut().enumerate() {
            *c = i as u64 + 1;
        }
        let total: u64 = cells.iter().sum();
        let l = linkerd_cumulative(&cells);
        assert_eq!(l[LINKERD_BUCKETS - 1], total);
        assert_eq!(l[0], 1);
        // le=1000 closes cell 15; cell 16 (1000, 1200] belongs to le=2000 with cell 17.
        assert_eq!(l[15], (1..=16).sum::<u64>());
        assert_eq!(l[16], (1..=18).sum::<u64>());
        let t = traefik_cumulative(&cells);
        assert_eq!(
            t,
            [
                (1..=11).sum(),
                (1..=13).sum(),
                (1..=17).sum(),
                (1..=21).sum(),
                total
            ]
        );
    }

    #[test]
    fn cell_values_stay_inside_their_cell() {
        for cell in 0..CELLS - 1 {
            let v = cell_value_ms(cell);
            let lo = if cell == 0 { 0 } else { CELL_UPPER_MS[cell - 1] };
            assert!(v > lo && v <= CELL_UPPER_MS[cell], "{cell}: {v}");
        }
    }
}
