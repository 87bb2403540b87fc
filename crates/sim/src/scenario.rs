//! Fault scenarios: what can go wrong, when, and which entity it is injected into.

use serde::{Deserialize, Serialize};

/// A fault, named by its `kind` in JSON (`{"kind": "error_spike", "namespace": "shop", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// A share of the responses of a Service's pods become 500s.
    ErrorSpike {
        namespace: String,
        service: String,
        #[serde(default = "default_error_ratio")]
        error_ratio: f64,
    },
    /// A Service's latency is multiplied.
    LatencyRegression {
        namespace: String,
        service: String,
        #[serde(default = "default_latency_factor")]
        factor: f64,
    },
    /// A Deployment's containers exit at start: restarts grow, `CrashLoopBackOff`, BackOff events.
    CrashLoop { namespace: String, deployment: String },
    /// A Deployment's containers are OOM-killed from time to time (`OOMKilled`, exit code 137).
    OomKill { namespace: String, deployment: String },
    /// A node runs out of memory: condition MemoryPressure=True, its taint, node_exporter
    /// memory and PSI high.
    NodeMemoryPressure { node: String },
    /// A new image whose pods answer with errors; rolled back when the scenario ends.
    BadRollout {
        namespace: String,
        deployment: String,
        #[serde(default = "default_bad_ratio")]
        error_ratio: f64,
    },
}

fn default_error_ratio() -> f64 {
    0.3
}
fn default_latency_factor() -> f64 {
    8.0
}
fn default_bad_ratio() -> f64 {
    0.35
}

impl Fault {
    /// The scenario's name, as the AIOps evaluation reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ErrorSpike { .. } => "error_spike",
            Fault::LatencyRegression { .. } => "latency_regression",
            Fault::CrashLoop { .. } => "crash_loop",
            Fault::OomKill { .. } => "oom_kill",
            Fault::NodeMemoryPressure { .. } => "node_memory_pressure",
            Fault::BadRollout { .. } => "bad_rollout",
        }
    }

    /// The injected entity as `namespace/kind/name` (`_cluster` for cluster-scoped objects).
    pub fn entity(&self) -> String {
        match self {
            Fault::ErrorSpike {
                namespace, service, ..
            }
            | Fault::LatencyRegression {
                namespace, service, ..
            } => {
                format!("{namespace}/service/{service}")
            }
            Fault::CrashLoop {
                namespace,
                deployment,
            }
            | Fault::OomKill {
                namespace,
                deployment,
            }
            | Fault::BadRollout {
                namespace,
                deployment,
                ..
            } => format!("{namespace}/deployment/{deployment}"),
            Fault::NodeMemoryPressure { node } => format!("_cluster/node/{node}"),
        }
    }
}

/// A fault with its timing relative to the moment it is scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub fault: Fault,
    /// Seconds of simulated time from scheduling to the start.
    #[serde(default)]
    pub start_in_secs: u64,
    pub duration_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioState {
    Pending,
    Active,
    Done,
}

/// A scheduled scenario, as `GET /sim/scenarios` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledScenario {
    pub id: u64,
    pub name: String,
    pub entity: String,
    pub fault: Fault,
    /// Simulated unix milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
    pub state: ScenarioState,
}

impl ScheduledScenario {
    pub fn is_active(&self) -> bool {
        self.state == ScenarioState::Active
    }
}

impl Scenario {
    /// Reads a scenario from the command line: either the JSON of [`Scenario`], or
    /// `KIND:ENTITY[@START+DURATION]` with the entity as `namespace/kind/name` and times in
    /// seconds (default `@0+600`), e.g. `error_spike:shop/service/payments@60+300`,
    /// `node_memory_pressure:_cluster/node/node-2`, `crash_loop:shop/deployment/cart@0+900`.
    pub fn parse_spec(spec: &str) -> Result<Scenario, crate::SimError> {
        let bad = |why: &str| crate::SimError::Invalid(format!("scenario {spec:?}: {why}"));
        if spec.trim_start().starts_with('{') {
            return serde_json::from_str(spec).map_err(|e| bad(&e.to_string()));
        }
        let (kind, rest) = spec
            .split_once(':')
            .ok_or_else(|| bad("expected KIND:ENTITY[@START+DURATION]"))?;
        let (entity, timing) = rest.split_once('@').unwrap_or((rest, "0+600"));
        let (start, duration) = timing
            .split_once('+')
            .ok_or_else(|| bad("timing must be @START+DURATION"))?;
        let secs = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| bad(&format!("{s:?} is not a number of seconds")))
        };
        let (start_in_secs, duration_secs) = (secs(start)?, secs(duration)?);
        let parts: Vec<&str> = entity.split('/').collect();
        let [namespace, entity_kind, name] = parts[..] else {
            return Err(bad("the entity must be namespace/kind/name"));
        };
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        let fault = match (kind, entity_kind) {
            ("error_spike", "service") => Fault::ErrorSpike {
                namespace,
                service: name,
                error_ratio: default_error_ratio(),
            },
            ("latency_regression", "service") => Fault::LatencyRegression {
                namespace,
                service: name,
                factor: default_latency_factor(),
            },
            ("crash_loop", "deployment") => Fault::CrashLoop {
                namespace,
                deployment: name,
            },
            ("oom_kill", "deployment") => Fault::OomKill {
                namespace,
                deployment: name,
            },
            ("bad_rollout", "deployment") => Fault::BadRollout {
                namespace,
                deployment: name,
                error_ratio: default_bad_ratio(),
            },
            ("node_memory_pressure", "node") => Fault::NodeMemoryPressure { node: name },
            _ => return Err(bad(&format!("unknown scenario {kind:?} for a {entity_kind}"))),
        };
        Ok(Scenario {
            fault,
            start_in_secs,
            duration_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_from_json_with_defaults_and_name_their_entity() {
        let s: Scenario = serde_json::from_str(
            r#"{"fault":{"kind":"error_spike","namespace":"shop","service":"payments"},"duration_secs":60}"#,
        )
        .unwrap();
        assert_eq!(s.fault.entity(), "shop/service/payments");
        assert_eq!(s.fault.name(), "error_spike");
        assert!(matches!(s.fault, Fault::ErrorSpike { error_ratio, .. } if error_ratio == 0.3));
        let node = Fault::NodeMemoryPressure {
            node: "node-2".into(),
        };
        assert_eq!(node.entity(), "_cluster/node/node-2");
        assert!(
            serde_json::from_str::<Scenario>(r#"{"fault":{"kind":"meteor"},"duration_secs":1}"#).is_err()
        );
    }

    #[test]
    fn command_line_specs() {
        let s = Scenario::parse_spec("error_spike:shop/service/payments@60+300").unwrap();
        assert_eq!(
            (s.fault.entity().as_str(), s.start_in_secs, s.duration_secs),
            ("shop/service/payments", 60, 300)
        );
        let s = Scenario::parse_spec("node_memory_pressure:_cluster/node/node-2").unwrap();
        assert_eq!((s.fault.name(), s.duration_secs), ("node_memory_pressure", 600));
        let s = Scenario::parse_spec("crash_loop:shop/deployment/cart@0+900").unwrap();
        assert_eq!(s.fault.entity(), "shop/deployment/cart");
        for bad in [
            "error_spike",
            "error_spike:shop/payments",
            "crash_loop:shop/service/x",
            "oom_kill:a/deployment/b@x+1",
            "meteor:a/b/c",
        ] {
            assert!(Scenario::parse_spec(bad).is_err(), "{bad}");
        }
        let json =
            r#"{"fault":{"kind":"oom_kill","namespace":"shop","deployment":"cart"},"duration_secs":5}"#;
        assert_eq!(Scenario::parse_spec(json).unwrap().duration_secs, 5);
    }
}
