//! Traffic: per step and flow, a Poisson number of requests split over client pods, endpoint
//! pods, outcomes and latency cells, recorded at once into the proxies' counters, Traefik's
//! counters and the ground truth, so the three can never disagree.

use super::SimCluster;
use crate::model::{CLUSTER_DOMAIN, DstPod, InboundKey, OutboundKey, Outcome, TraefikKey, traefik_service};
use crate::rng::normal_cdf;
use crate::scenario::Fault;
use crate::truth::{CELL_UPPER_MS, CELLS, Cells, GroupKey};

/// Relative load over the day (UTC): 0.2 at night, 1.0 at the 15:00 peak.
pub fn daily_shape(unix_ms: i64) -> f64 {
    let hours = (unix_ms.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    0.6 + 0.4 * (std::f64::consts::TAU * (hours - 15.0) / 24.0).cos()
}

/// Probabilities of the latency cells for a log-normal latency (median `median_ms`),
/// truncated to whole ms as the proxy records it: a request is in the cell with upper bound
/// `u` when `floor(x) <= u`, that is `x < u + 1`.
pub fn cell_probabilities(median_ms: f64, sigma: f64) -> [f64; CELLS] {
    let mu = median_ms.max(0.01).ln();
    let cdf = |ms: f64| normal_cdf((ms.ln() - mu) / sigma);
    let mut out = [0.0; CELLS];
    let mut prev = 0.0;
    for (i, upper) in CELL_UPPER_MS.iter().enumerate() {
        let c = cdf(*upper as f64 + 1.0);
        out[i] = (c - prev).max(0.0);
        prev = c;
    }
    out[CELLS - 1] = (1.0 - prev).max(0.0);
    out
}

/// What the active scenarios do to one Service's traffic.
#[derive(Default, Clone, Copy)]
struct Effect {
    error_ratio: f64,
    latency_factor: f64,
    /// Median ms a request to this Service spends waiting on slowed-down Services it calls.
    wait_ms: f64,
}

/// Callers wait for their callees: while a Service is slowed down, every request to a Service
/// whose pods call it takes longer by the callee's extra median latency, weighted by how many
/// calls the caller makes per request it serves (the caller's outgoing peak rate over its
/// incoming one, at most 1), and so on up the call graph.
///
/// wait(S) = Σ over the flows g from S's workload: min(1, rate(g) / rate into S) ·
/// (median(g) · (factor(target of g) − 1) + wait(target of g)).
fn waits(sim: &SimCluster, factors: &[f64]) -> Vec<f64> {
    fn wait(
        sim: &SimCluster,
        factors: &[f64],
        service: usize,
        memo: &mut [Option<f64>],
        visiting: &mut [bool],
    ) -> f64 {
        if let Some(w) = memo[service] {
            return w;
        }
        if visiting[service] {
            // A call cycle: do not wait on ourselves.
            return 0.0;
        }
        visiting[service] = true;
        let workload = sim.services[service].workload;
        let incoming: f64 = sim
            .flows
            .iter()
            .filter(|f| f.service == service)
            .map(|f| f.peak_rps)
            .sum();
        let mut total = 0.0;
        if incoming > 0.0 {
            for g in sim
                .flows
                .iter()
                .filter(|f| f.client == workload && f.ingress.is_none())
            {
                if g.service == service {
                    continue;
                }
                let extra =
                    g.median_ms * (factors[g.service] - 1.0) + wait(sim, factors, g.service, memo, visiting);
                total += (g.peak_rps / incoming).min(1.0) * extra;
            }
        }
        visiting[service] = false;
        memo[service] = Some(total);
        total
    }
    let n = sim.services.len();
    if factors.iter().all(|&f| f == 1.0) {
        return vec![0.0; n];
    }
    let mut memo = vec![None; n];
    let mut visiting = vec![false; n];
    (0..n)
        .map(|s| wait(sim, factors, s, &mut memo, &mut visiting))
        .collect()
}

fn effects(sim: &SimCluster) -> Vec<Effect> {
    let mut out = vec![
        Effect {
            error_ratio: 0.0,
            latency_factor: 1.0,
            wait_ms: 0.0,
        };
        sim.services.len()
    ];
    for fault in sim.active_faults() {
        match fault {
            Fault::ErrorSpike {
                namespace,
                service,
                error_ratio,
            } => {
                if let Ok(i) = sim.service_index(namespace, service) {
                    out[i].error_ratio = (out[i].error_ratio + error_ratio).min(1.0);
                }
            }
            Fault::LatencyRegression {
                namespace,
                service,
                factor,
            } => {
                if let Ok(i) = sim.service_index(namespace, service) {
                    out[i].latency_factor *= factor;
                }
            }
            _ => {}
        }
    }
    let factors: Vec<f64> = out.iter().map(|e| e.latency_factor).collect();
    for (effect, wait) in out.iter_mut().zip(waits(sim, &factors)) {
        effect.wait_ms = wait;
    }
    out
}

/// Per pod, what traffic needs to know about it.
struct PodView {
    identity: String,
    dst: DstPod,
    app_port: u16,
    /// Extra error ratio of a bad rollout's pods.
    bad_ratio: f64,
}

fn pod_views(sim: &SimCluster) -> Vec<PodView> {
    let bad_ratio = |w: usize| {
        let wl = &sim.workloads[w];
        sim.active_faults()
            .find_map(|f| match f {
                Fault::BadRollout {
                    namespace,
                    deployment,
                    error_ratio,
                } if *namespace == wl.namespace && *deployment == wl.name => Some(*error_ratio),
                _ => None,
            })
            .unwrap_or(0.35)
    };
    sim.pods
        .iter()
        .map(|p| {
            let w = &sim.workloads[p.workload];
            let bad = w.revisions.iter().any(|r| r.hash == p.revision_hash && r.bad);
            PodView {
                identity: format!(
                    "{}.{}.serviceaccount.identity.linkerd.{CLUSTER_DOMAIN}",
                    w.service_account(),
                    w.namespace
                ),
                dst: DstPod {
                    pod: p.name.clone(),
                    workload_label: w.kind.label(),
                    workload: w.name.clone(),
                    template_hash: p.revision_hash.clone(),
                    serviceaccount: w.service_account().to_owned(),
                    ip: p.mesh_ip.clone(),
                },
                app_port: w.app_port,
                bad_ratio: if bad { bad_ratio(p.workload) } else { 0.0 },
            }
        })
        .collect()
}

/// Outcome weights with an extra error ratio folded in as 500s.
fn outcome_weights(outcomes: &[Outcome], error_ratio: f64) -> (Vec<Outcome>, Vec<f64>) {
    let mut list = outcomes.to_vec();
    let total: f64 = list.iter().map(|o| o.weight).sum();
    let mut weights: Vec<f64> = list
        .iter()
        .map(|o| o.weight / total * (1.0 - error_ratio))
        .collect();
    if error_ratio > 0.0 {
        match list.iter().position(|o| o.code == 500) {
            Some(i) => weights[i] += error_ratio,
            None => {
                list.push(Outcome {
                    method: "GET",
                    code: 500,
                    weight: 0.0,
                });
                weights.push(error_ratio);
            }
        }
    }
    (list, weights)
}

/// Simulates `dt_ms` of traffic starting at the cluster's current time.
pub fn run(sim: &mut SimCluster, dt_ms: i64) {
    let shape = daily_shape(sim.now_ms + dt_ms / 2);
    let dt_s = dt_ms as f64 / 1000.0;
    let effects = effects(sim);
    let views = pod_views(sim);
    let now = sim.now_ms;
    let ready: Vec<Vec<usize>> = (0..sim.workloads.len())
        .map(|w| {
            (0..sim.pods.len())
                .filter(|&i| sim.pods[i].workload == w && sim.pods[i].is_ready(now))
                .collect()
        })
        .collect();
    for f in 0..sim.flows.len() {
        let flow = sim.flows[f].clone();
        let n = sim.rng.poisson(flow.peak_rps * shape * dt_s);
        let clients = &ready[flow.client];
        if n == 0 || clients.is_empty() {
            continue;
        }
        let servers = &ready[sim.services[flow.service].workload];
        let effect = effects[flow.service];
        let probs = cell_probabilities(
            flow.median_ms * effect.latency_factor + effect.wait_ms,
            flow.sigma,
        );
        let mut per_client = vec![0u64; clients.len()];
        sim.rng.multinomial(n, &vec![1.0; clients.len()], &mut per_client);
        for (ci, &count) in per_client.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let client = clients[ci];
            if servers.is_empty() {
                // No endpoint: the proxy fails fast with 503, in well under a millisecond.
                let mut cells = [0u64; CELLS];
                cells[0] = count;
                let o = Outcome {
                    method: "GET",
                    code: 503,
                    weight: 1.0,
                };
                record(sim, &views, f, client, None, o, &cells);
                continue;
            }
            let mut per_server = vec![0u64; servers.len()];
            sim.rng
                .multinomial(count, &vec![1.0; servers.len()], &mut per_server);
            for (si, &k) in per_server.iter().enumerate() {
                if k == 0 {
                    continue;
                }
                let server = servers[si];
                let ratio = (effect.error_ratio + views[server].bad_ratio).min(1.0);
                let (outcomes, weights) = outcome_weights(&flow.outcomes, ratio);
                let mut per_outcome = vec![0u64; outcomes.len()];
                sim.rng.multinomial(k, &weights, &mut per_outcome);
                for (oi, &m) in per_outcome.iter().enumerate() {
                    if m == 0 {
                        continue;
                    }
                    let mut cells = [0u64; CELLS];
                    sim.rng.multinomial(m, &probs, &mut cells);
                    record(sim, &views, f, client, Some(server), outcomes[oi], &cells);
                }
            }
        }
    }
}

/// Books one batch of requests everywhere it is seen.
fn record(
    sim: &mut SimCluster,
    views: &[PodView],
    flow: usize,
    client: usize,
    server: Option<usize>,
    outcome: Outcome,
    cells: &Cells,
) {
    let (ingress, service, now) = (sim.flows[flow].ingress, sim.flows[flow].service, sim.now_ms);
    let svc = &sim.services[service];
    let out_key = OutboundKey {
        dst_namespace: svc.namespace.clone(),
        dst_service: svc.name.clone(),
        port: svc.port,
        dst: server.map(|s| views[s].dst.clone()),
    };
    let authority = out_key.authority();
    let client_wl = &sim.workloads[sim.pods[client].workload];
    let edge = GroupKey::Service {
        source_namespace: client_wl.namespace.clone(),
        source: client_wl.name.clone(),
        namespace: svc.namespace.clone(),
        target: svc.name.clone(),
    };
    let traefik_svc = traefik_service(svc);
    if let Some(proxy) = &mut sim.pods[client].proxy {
        proxy
            .outbound
            .entry(out_key)
            .or_default()
            .add(outcome.code, cells, now);
    }
    if let Some(s) = server {
        let key = InboundKey {
            authority,
            client_id: Some(views[client].identity.clone()),
            target_port: views[s].app_port,
        };
        if let Some(proxy) = &mut sim.pods[s].proxy {
            proxy
                .inbound
                .entry(key)
                .or_default()
                .add(outcome.code, cells, now);
        }
    }
    sim.truth
        .groups
        .entry(edge)
        .or_default()
        .record(outcome.code, cells);
    let Some(ingress) = ingress else { return };
    let (host, router) = (
        sim.ingresses[ingress].host.clone(),
        sim.ingresses[ingress].router(),
    );
    let key = InboundKey {
        authority: host.clone(),
        client_id: None,
        target_port: views[client].app_port,
    };
    if let Some(proxy) = &mut sim.pods[client].proxy {
        proxy
            .inbound
            .entry(key)
            .or_default()
            .add(outcome.code, cells, now);
    }
    if let Some(t) = &mut sim.pods[client].traefik {
        let key = TraefikKey {
            method: outcome.method,
            code: outcome.code,
            router,
            service: traefik_svc,
        };
        t.series.entry(key).or_default().add(cells);
    }
    sim.truth
        .groups
        .entry(GroupKey::Ingress { domain: host })
        .or_default()
        .record(outcome.code, cells);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_probabilities_sum_to_one_and_centre_on_the_median() {
        let p = cell_probabilities(45.0, 0.5);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Half the requests are below the 45 ms median: the cumulative crosses 0.5 in (40, 50].
        let below_40: f64 = p[..9].iter().sum();
        let below_50: f64 = p[..10].iter().sum();
        assert_eq!(CELL_UPPER_MS[9], 50);
        assert!(below_40 < 0.5 && below_50 > 0.5, "{below_40} {below_50}");
    }

    #[test]
    fn callers_wait_for_a_slowed_down_service() {
        use crate::cluster::SimConfig;
        use crate::scenario::Scenario;
        let mut sim = SimCluster::new(SimConfig {
            bind_listeners: false,
            ..SimConfig::default()
        })
        .unwrap();
        let wait =
            |sim: &SimCluster, name: &str| effects(sim)[sim.service_index("shop", name).unwrap()].wait_ms;
        assert_eq!(wait(&sim, "web"), 0.0, "nobody waits without a regression");
        sim.schedule(Scenario {
            fault: Fault::LatencyRegression {
                namespace: "shop".into(),
                service: "catalog".into(),
                factor: 8.0,
            },
            start_in_secs: 0,
            duration_secs: 600,
        })
        .unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // catalog itself is slower by its factor, not by waiting: its callees are fine.
        assert_eq!(wait(&sim, "catalog"), 0.0);
        assert_eq!(wait(&sim, "inventory"), 0.0);
        assert_eq!(wait(&sim, "cart"), 0.0);
        // api calls catalog 30 times for every 48 requests it serves: 30/48 · 12 ms · 7.
        assert!(
            close(wait(&sim, "api"), 30.0 / 48.0 * 84.0),
            "{}",
            wait(&sim, "api")
        );
        // web waits on api (36/40) and on catalog directly (6/40).
        let web = 36.0 / 40.0 * (30.0 / 48.0 * 84.0) + 6.0 / 40.0 * 84.0;
        assert!(close(wait(&sim, "web"), web), "{}", wait(&sim, "web"));
    }

    #[test]
    fn the_day_has_a_peak_and_a_trough() {
        assert!((daily_shape(15 * 3_600_000) - 1.0).abs() < 1e-9);
        assert!((daily_shape(3 * 3_600_000) - 0.2).abs() < 1e-9);
    }
}
