//! Remote operations on the wire: what the master queues for an agent ([`Command`]), what the
//! long poll hands over ([`PolledCommands`]), and what the agent reports back
//! ([`CommandReport`]). One definition for both sides, so the master's validation and the
//! agent's are the same code.
//!
//! A command travels as version 1 wrote it:
//! `{"action", "kind", "namespace", "name", "params", "created_by", "timeout_s"}`. An action
//! or status this version does not know (a newer peer) is refused with an error that names
//! it; it never panics and never runs.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::resources::ResourceKind;

/// A command's timeout when the request names none, and the longest one allowed (seconds).
pub const DEFAULT_TIMEOUT_S: u64 = 60;
pub const MAX_TIMEOUT_S: u64 = 600;
/// Log lines returned when `tail_lines` is not given, and the most that may be asked for.
pub const DEFAULT_TAIL_LINES: u32 = 100;
pub const MAX_TAIL_LINES: u32 = 5000;
pub const MAX_REPLICAS: u32 = 10_000;
pub const MAX_GRACE_PERIOD_S: u32 = 3600;

/// A command that cannot be built or read: the message says which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, CommandError> {
    Err(CommandError(message.into()))
}

/// What an agent does, with the parameters each action takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `kubectl rollout restart`.
    Restart,
    DeletePod {
        grace_period_seconds: Option<u32>,
    },
    Scale {
        replicas: u32,
    },
    Cordon,
    Uncordon,
    /// `container` is needed when the workload has several (besides a Linkerd proxy).
    UpdateImage {
        image: String,
        container: Option<String>,
    },
    Logs {
        container: Option<String>,
        tail_lines: u32,
        previous: bool,
    },
    /// The agent's summary of one object (Secrets: type and keys only).
    Get,
}

/// Every action's wire name, in the order the API documents them.
pub const ACTION_NAMES: [&str; 8] = [
    "restart",
    "delete_pod",
    "scale",
    "cordon",
    "uncordon",
    "update_image",
    "logs",
    "get",
];

/// Reads the optional parameter `key` of `params` with `read`, naming it on a wrong type.
fn param<T>(
    params: &Value,
    key: &str,
    expected: &str,
    read: impl FnOnce(&Value) -> Option<T>,
) -> Result<Option<T>, CommandError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match read(v) {
            Some(t) => Ok(Some(t)),
            None => fail(format!("params.{key} must be {expected}, not {v}")),
        },
    }
}

fn whole_in(
    params: &Value,
    key: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, CommandError> {
    let expected = format!("a whole number {} to {}", range.start(), range.end());
    param(params, key, &expected, |v| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| range.contains(n))
    })
}

fn text(params: &Value, key: &str) -> Result<Option<String>, CommandError> {
    Ok(param(params, key, "a string", |v| v.as_str().map(str::to_owned))?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

impl Action {
    /// Builds an action from its wire name and parameters, checking every parameter.
    pub fn parse(name: &str, params: &Value) -> Result<Self, CommandError> {
        if !(params.is_null() || params.is_object()) {
            return fail(format!("params must be an object, not {params}"));
        }
        Ok(match name {
            "restart" => Self::Restart,
            "delete_pod" => Self::DeletePod {
                grace_period_seconds: whole_in(params, "grace_period_seconds", 0..=MAX_GRACE_PERIOD_S)?,
            },
            "scale" => Self::Scale {
                replicas: whole_in(params, "replicas", 0..=MAX_REPLICAS)?.ok_or_else(|| {
                    CommandError(format!(
                        "scale needs params.replicas, a whole number 0 to {MAX_REPLICAS}"
                    ))
                })?,
            },
            "cordon" => Self::Cordon,
            "uncordon" => Self::Uncordon,
            "update_image" => {
                let image = text(params, "image")?
                    .ok_or_else(|| CommandError("update_image needs params.image".into()))?;
                if image.chars().any(char::is_whitespace) {
                    return fail(format!("params.image {image:?} is not an image reference"));
                }
                Self::UpdateImage {
                    image,
                    container: text(params, "container")?,
                }
            }
            "logs" => Self::Logs {
                container: text(params, "container")?,
                tail_lines: whole_in(params, "tail_lines", 1..=MAX_TAIL_LINES)?.unwrap_or(DEFAULT_TAIL_LINES),
                previous: param(params, "previous", "true or false", Value::as_bool)?.unwrap_or(false),
            },
            "get" => Self::Get,
            "" => return fail("the command has no action"),
            other => {
                return fail(format!(
                    "unknown action {other:?}; known: {} (is the sender newer than this version?)",
                    ACTION_NAMES.join(", ")
                ));
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::DeletePod { .. } => "delete_pod",
            Self::Scale { .. } => "scale",
            Self::Cordon => "cordon",
            Self::Uncordon => "uncordon",
            Self::UpdateImage { .. } => "update_image",
            Self::Logs { .. } => "logs",
            Self::Get => "get",
        }
    }

    /// The parameters as they travel.
    pub fn params(&self) -> Value {
        match self {
            Self::Restart | Self::Cordon | Self::Uncordon | Self::Get => json!({}),
            Self::DeletePod { grace_period_seconds } => match grace_period_seconds {
                Some(g) => json!({ "grace_period_seconds": g }),
                None => json!({}),
            },
            Self::Scale { replicas } => json!({ "replicas": replicas }),
            Self::UpdateImage { image, container } => match container {
                Some(c) => json!({ "image": image, "container": c }),
                None => json!({ "image": image }),
            },
            Self::Logs {
                container,
                tail_lines,
                previous,
            } => {
                let mut p = json!({ "tail_lines": tail_lines, "previous": previous });
                if let (Some(c), Some(map)) = (container, p.as_object_mut()) {
                    map.insert("container".into(), Value::String(c.clone()));
                }
                p
            }
        }
    }

    /// Whether the action changes the cluster (the API then asks for `confirm`).
    pub fn mutates(&self) -> bool {
        !matches!(self, Self::Logs { .. } | Self::Get)
    }

    /// The kinds the action works on (`None`: every kind).
    pub fn kinds(&self) -> Option<&'static [ResourceKind]> {
        use ResourceKind as K;
        match self {
            Self::Restart | Self::UpdateImage { .. } => Some(&[K::Deployment, K::StatefulSet, K::DaemonSet]),
            Self::Scale { .. } => Some(&[K::Deployment, K::StatefulSet, K::ReplicaSet]),
            Self::DeletePod { .. } | Self::Logs { .. } => Some(&[K::Pod]),
            Self::Cordon | Self::Uncordon => Some(&[K::Node]),
            Self::Get => None,
        }
    }
}

/// The object a command acts on. `namespace` is empty for cluster-scoped kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: ResourceKind,
    pub namespace: String,
    pub name: String,
}

/// One command for an agent, checked: the action fits the kind, a namespaced kind has a
/// namespace, the timeout is 1 to [`MAX_TIMEOUT_S`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireCommand", into = "WireCommand")]
pub struct Command {
    pub action: Action,
    pub target: Target,
    /// Seconds from queueing to result; past it the command is `timed_out` on both sides.
    /// `None`: the agent's configured default (the master always sets one).
    pub timeout_s: Option<u64>,
    /// The user who queued it.
    pub created_by: String,
}

impl Command {
    pub fn new(
        action: Action,
        target: Target,
        timeout_s: Option<u64>,
        created_by: String,
    ) -> Result<Self, CommandError> {
        if let Some(kinds) = action.kinds()
            && !kinds.contains(&target.kind)
        {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            return fail(format!(
                "{} works on {}, not {}",
                action.name(),
                names.join(", "),
                target.kind
            ));
        }
        if target.name.trim().is_empty() {
            return fail("the command names no object");
        }
        let namespace = if target.kind.namespaced() {
            if target.namespace.is_empty() {
                return fail(format!("a {} needs a namespace", target.kind));
            }
            target.namespace
        } else {
            String::new()
        };
        if let Some(t) = timeout_s
            && !(1..=MAX_TIMEOUT_S).contains(&t)
        {
            return fail(format!("timeout_s must be 1 to {MAX_TIMEOUT_S}, not {t}"));
        }
        Ok(Self {
            action,
            target: Target { namespace, ..target },
            timeout_s,
            created_by,
        })
    }

    /// `kind namespace/name` (or `kind name`), for messages.
    pub fn describe(&self) -> String {
        let t = &self.target;
        if t.namespace.is_empty() {
            format!("{} {} {}", self.action.name(), t.kind, t.name)
        } else {
            format!("{} {} {}/{}", self.action.name(), t.kind, t.namespace, t.name)
        }
    }
}

/// The JSON form of a command, version 1's field names.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireCommand {
    action: String,
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_s: Option<u64>,
}

impl TryFrom<WireCommand> for Command {
    type Error = CommandError;

    fn try_from(w: WireCommand) -> Result<Self, CommandError> {
        let action = Action::parse(&w.action, &w.params)?;
        let kind =
            ResourceKind::parse(&w.kind).ok_or_else(|| CommandError(format!("unknown kind {:?}", w.kind)))?;
        let target = Target {
            kind,
            namespace: w.namespace,
            name: w.name,
        };
        Self::new(action, target, w.timeout_s, w.created_by)
    }
}

impl From<Command> for WireCommand {
    fn from(c: Command) -> Self {
        Self {
            action: c.action.name().to_owned(),
            params: c.action.params(),
            kind: c.target.kind.as_str().to_owned(),
            namespace: c.target.namespace,
            name: c.target.name,
            created_by: c.created_by,
            timeout_s: c.timeout_s,
        }
    }
}

/// Where a command is: queued, handed to the agent, or finished one of three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
}

impl CommandStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Succeeded, failed or timed out: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::TimedOut)
    }
}

impl std::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of the command long poll (`GET /agent/commands`). Each command stays raw JSON
/// here so one the agent cannot read is reported failed on its own, not the whole answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolledCommands {
    pub commands: Vec<PolledCommand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolledCommand {
    pub id: String,
    pub command: Value,
}

impl PolledCommand {
    /// The command, checked; an error names what this version cannot read.
    pub fn parse(&self) -> Result<Command, CommandError> {
        serde_json::from_value(self.command.clone())
            .map_err(|e| CommandError(format!("command {}: {e}", self.id)))
    }
}

/// What the agent reports for one command (`POST /agent/result`): a final status and a JSON
/// result (`{"output": …}` or `{"error": …}`, with `duration_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireReport")]
pub struct CommandReport {
    pub id: String,
    pub status: CommandStatus,
    #[serde(default)]
    pub result: Value,
}

#[derive(Deserialize)]
struct WireReport {
    id: String,
    status: String,
    #[serde(default)]
    result: Value,
}

impl TryFrom<WireReport> for CommandReport {
    type Error = CommandError;

    fn try_from(w: WireReport) -> Result<Self, CommandError> {
        let status = CommandStatus::parse(&w.status)
            .filter(|s| s.is_final())
            .ok_or_else(|| {
                CommandError(format!(
                    "invalid status {:?}: expected succeeded, failed or timed_out",
                    w.status
                ))
            })?;
        Ok(Self {
            id: w.id,
            status,
            result: w.result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(value: Value) -> Result<Command, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn version_one_commands_round_trip() {
        let wire = json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "cart",
                          "params": {"replicas": 3}, "created_by": "otto", "timeout_s": 60});
        let c = command(wire.clone()).unwrap();
        assert_eq!(c.action, Action::Scale { replicas: 3 });
        assert_eq!(c.target.kind, ResourceKind::Deployment);
        assert_eq!(serde_json::to_value(&c).unwrap(), wire);
        let node = command(
            json!({"action": "cordon", "kind": "Node", "namespace": "x", "name": "node-1", "params": null}),
        )
        .unwrap();
        assert_eq!(node.target.namespace, "", "cluster-scoped kinds lose a namespace");
        assert_eq!(node.timeout_s, None, "the agent's default applies");
    }

    #[test]
    fn every_parameter_is_checked_once_for_both_sides() {
        let bad = [
            (
                json!({"action": "scale", "params": {}}),
                "scale needs params.replicas",
            ),
            (
                json!({"action": "scale", "params": {"replicas": -1}}),
                "params.replicas must be a whole number 0 to 10000",
            ),
            (
                json!({"action": "scale", "params": {"replicas": 10001}}),
                "0 to 10000",
            ),
            (
                json!({"action": "restart", "kind": "Pod"}),
                "restart works on Deployment, StatefulSet, DaemonSet, not Pod",
            ),
            (
                json!({"action": "update_image", "params": {"image": " "}}),
                "update_image needs params.image",
            ),
            (
                json!({"action": "update_image", "params": {"image": "a b"}}),
                "not an image reference",
            ),
            (
                json!({"action": "logs", "kind": "Pod", "params": {"tail_lines": 0}}),
                "params.tail_lines must be a whole number 1 to 5000",
            ),
            (
                json!({"action": "logs", "kind": "Pod", "params": {"previous": "yes"}}),
                "params.previous must be true or false",
            ),
            (
                json!({"action": "scale", "namespace": "", "params": {"replicas": 1}}),
                "a Deployment needs a namespace",
            ),
            (
                json!({"action": "scale", "params": {"replicas": 1}, "timeout_s": 601}),
                "timeout_s must be 1 to 600",
            ),
            (
                json!({"action": "get", "kind": "Gadget"}),
                "unknown kind \"Gadget\"",
            ),
            (
                json!({"action": "scale", "params": [1]}),
                "params must be an object",
            ),
        ];
        for (fields, expected) in bad {
            let mut wire =
                json!({"action": "get", "kind": "Deployment", "namespace": "shop", "name": "cart"});
            for (k, v) in fields.as_object().unwrap() {
                wire[k] = v.clone();
            }
            let err = command(wire).unwrap_err();
            assert!(err.contains(expected), "{err} does not contain {expected}");
        }
    }

    #[test]
    fn a_newer_peers_action_and_status_are_refused_by_name() {
        let polled = PolledCommand {
            id: "c1".into(),
            command: json!({"action": "drain", "kind": "Node", "name": "node-1"}),
        };
        let err = polled.parse().unwrap_err().to_string();
        assert!(
            err.contains("c1") && err.contains("unknown action \"drain\""),
            "{err}"
        );
        let report = serde_json::from_value::<CommandReport>(json!({"id": "c1", "status": "cancelled"}));
        assert!(
            report
                .unwrap_err()
                .to_string()
                .contains("invalid status \"cancelled\"")
        );
        let report = serde_json::from_value::<CommandReport>(json!({"id": "c1", "status": "running"}));
        assert!(report.is_err(), "an agent reports only final statuses");
    }

    #[test]
    fn the_action_table() {
        for name in ACTION_NAMES {
            let params = match name {
                "scale" => json!({"replicas": 1}),
                "update_image" => json!({"image": "nginx:1"}),
                _ => Value::Null,
            };
            let action = Action::parse(name, &params).unwrap();
            assert_eq!(action.name(), name);
            assert_eq!(Action::parse(name, &action.params()).unwrap(), action);
            assert_eq!(action.mutates(), !matches!(name, "logs" | "get"));
        }
        assert_eq!(CommandStatus::parse("timed_out"), Some(CommandStatus::TimedOut));
        assert!(!CommandStatus::Running.is_final());
    }
}
