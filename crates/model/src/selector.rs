//! A workload's label selector, typed: `matchLabels` and `matchExpressions` as Kubernetes has
//! them. On the wire it is one string in kubectl's selector syntax (`app=web,tier in (a,b)`),
//! as protocol version 1 sent it, so older agents and newer masters understand each other.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requirement {
    In { key: String, values: Vec<String> },
    NotIn { key: String, values: Vec<String> },
    Exists { key: String },
    DoesNotExist { key: String },
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::In { key, values } => labels.get(key).is_some_and(|v| values.contains(v)),
            Self::NotIn { key, values } => labels.get(key).is_none_or(|v| !values.contains(v)),
            Self::Exists { key } => labels.contains_key(key),
            Self::DoesNotExist { key } => !labels.contains_key(key),
        }
    }
}

/// A label selector. An empty one selects everything, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

/// A selector string that cannot be read, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {input:?} at byte {at}: {reason}")]
pub struct SelectorError {
    pub input: String,
    pub at: usize,
    pub reason: &'static str,
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether a set of labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Whether every pod this selector selects also carries `labels` (a Service's selector):
    /// each of `labels` is one of this selector's `matchLabels`.
    pub fn implies(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.iter().all(|(k, v)| self.match_labels.get(k) == Some(v))
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::In { key, values } => write!(f, "{key} in ({})", values.join(",")),
            Self::NotIn { key, values } => write!(f, "{key} notin ({})", values.join(",")),
            Self::Exists { key } => f.write_str(key),
            Self::DoesNotExist { key } => write!(f, "!{key}"),
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if !std::mem::take(&mut first) {
                f.write_str(",")?;
            }
            Ok::<(), fmt::Error>(())
        };
        for (k, v) in &self.match_labels {
            sep(f)?;
            write!(f, "{k}={v}")?;
        }
        for r in &self.match_expressions {
            sep(f)?;
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl From<LabelSelector> for String {
    fn from(s: LabelSelector) -> Self {
        s.to_string()
    }
}

impl TryFrom<String> for LabelSelector {
    type Error = SelectorError;

    fn try_from(s: String) -> Result<Self, SelectorError> {
        s.parse()
    }
}

/// Splits at commas outside parentheses, keeping each part's start offset.
fn split_terms(input: &str) -> Result<Vec<(usize, &str)>, SelectorError> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0u32, 0usize);
    for (i, ch) in input.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| SelectorError {
                    input: input.to_owned(),
                    at: i,
                    reason: "unbalanced ')'",
                })?;
            }
            ',' if depth == 0 => {
                terms.push((start, &input[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError {
            input: input.to_owned(),
            at: input.len(),
            reason: "unclosed '('",
        });
    }
    terms.push((start, &input[start..]));
    Ok(terms)
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    /// kubectl's syntax (`k=v`, `k==v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`), plus the
    /// form version-1 agents wrote for expressions (`k In (a,b)`, `k Exists ()`).
    fn from_str(input: &str) -> Result<Self, SelectorError> {
        let mut selector = Self::default();
        if input.trim().is_empty() {
            return Ok(selector);
        }
        for (at, term) in split_terms(input)? {
            let fail = |reason| SelectorError {
                input: input.to_owned(),
                at,
                reason,
            };
            let term = term.trim();
            if term.is_empty() {
                return Err(fail("empty term"));
            }
            if let Some((key, values)) = term.split_once('(') {
                let values = values
                    .strip_suffix(')')
                    .ok_or_else(|| fail("expected ')' at the end"))?;
                let (key, op) = key
                    .trim()
                    .rsplit_once(char::is_whitespace)
                    .ok_or_else(|| fail("expected 'key in (…)' or 'key notin (…)'"))?;
                let key = checked_key(key.trim()).ok_or_else(|| fail("invalid key"))?;
                let values: Vec<String> = values
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                selector.match_expressions.push(match op {
                    "in" | "In" => Requirement::In { key, values },
                    "notin" | "NotIn" => Requirement::NotIn { key, values },
                    "Exists" if values.is_empty() => Requirement::Exists { key },
                    "DoesNotExist" if values.is_empty() => Requirement::DoesNotExist { key },
                    _ => return Err(fail("unknown operator")),
                });
            } else if let Some((key, value)) = term.split_once("!=") {
                let key = checked_key(key.trim()).ok_or_else(|| fail("invalid key"))?;
                selector.match_expressions.push(Requirement::NotIn {
                    key,
                    values: vec![value.trim().to_owned()],
                });
            } else if let Some((key, value)) = term.split_once('=') {
                let key = checked_key(key.trim()).ok_or_else(|| fail("invalid key"))?;
                let value = value.strip_prefix('=').unwrap_or(value).trim();
                selector.match_labels.insert(key, value.to_owned());
            } else if let Some(key) = term.strip_prefix('!') {
                let key = checked_key(key.trim()).ok_or_else(|| fail("invalid key"))?;
                selector.match_expressions.push(Requirement::DoesNotExist { key });
            } else {
                let key = checked_key(term).ok_or_else(|| fail("invalid key"))?;
                selector.match_expressions.push(Requirement::Exists { key });
            }
        }
        Ok(selector)
    }
}

/// A label key: `[prefix/]name` of letters, digits, `-`, `_`, `.`.
fn checked_key(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() <= 317
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    ok.then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_version_one_strings_and_kubectl_syntax() {
        let v1: LabelSelector = "app=cart,tier=be".parse().unwrap();
        assert_eq!(v1.match_labels, labels(&[("app", "cart"), ("tier", "be")]));
        let old_expr: LabelSelector = "app=web,tier In (a,b),canary Exists ()".parse().unwrap();
        let new_expr: LabelSelector = "app==web,tier in (a, b),canary".parse().unwrap();
        assert_eq!(old_expr, new_expr);
        assert_eq!(new_expr.to_string(), "app=web,tier in (a,b),canary");
        let round: LabelSelector = new_expr.to_string().parse().unwrap();
        assert_eq!(round, new_expr);
        assert!("".parse::<LabelSelector>().unwrap().is_empty());
    }

    #[test]
    fn matching_follows_kubernetes() {
        let s: LabelSelector = "app=web,tier notin (db),!legacy".parse().unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("legacy", "1")])));
        assert!(s.implies(&labels(&[("app", "web")])));
        assert!(!s.implies(&labels(&[("app", "api")])));
    }

    #[test]
    fn bad_strings_name_the_place() {
        for bad in ["app=web,", "tier in (a", "tier in a)", "bad key=1", "k frob (a)"] {
            let err = bad.parse::<LabelSelector>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().starts_with("invalid label selector"), "{err}");
        }
    }

    #[test]
    fn on_the_wire_it_is_a_string() {
        let s: LabelSelector = "app=web".parse().unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"app=web\"");
        let back: LabelSelector = serde_json::from_str("\"app=web\"").unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<LabelSelector>("\"a in (\"").is_err());
    }
}
