//! The audit log: every change, refused ones included, with who, what, on what, when, from
//! where and how it ended; and reading it back.

use std::sync::Arc;

use atlhyper_model::Timestamp;

use crate::service::access::{Caller, Operator, RoleProof, refusal};
use crate::service::{Clock, ServiceError, ServiceResult};
use crate::store::{AuditFilter, AuditRecord, Store};

/// At most this many rows per query, and the default.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 100;

#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
    clock: Clock,
}

/// A query of the audit log, as the API and the dashboard take it.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    pub limit: Option<u32>,
}

impl Audit {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Appends one row for an action of `caller`.
    pub async fn record(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        result: &str,
        detail: &str,
    ) -> ServiceResult<()> {
        self.append(&caller.username, &caller.source, action, target, result, detail)
            .await
    }

    /// Appends one row for an action of the master itself or of an agent (`agent:<cluster>`).
    pub async fn system(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        result: &str,
        detail: &str,
    ) -> ServiceResult<()> {
        self.append(actor, "", action, target, result, detail).await
    }

    async fn append(
        &self,
        actor: &str,
        source: &str,
        action: &str,
        target: &str,
        result: &str,
        detail: &str,
    ) -> ServiceResult<()> {
        let record = AuditRecord {
            id: 0,
            at: (self.clock)(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            source_addr: source.to_owned(),
            result: result.to_owned(),
            detail: detail.to_owned(),
        };
        self.store.append_audit(&record).await?;
        Ok(())
    }

    /// Audits how a change ended (`ok`, or `error: …`) and passes the outcome on.
    pub async fn outcome<T>(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        detail: &str,
        outcome: ServiceResult<T>,
    ) -> ServiceResult<T> {
        let result = match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error: {}", e.message),
        };
        self.record(caller, action, target, &result, detail).await?;
        outcome
    }

    /// The proof of a role for a change; a refusal is audited as `denied` with the `action`
    /// and `target` the caller asked for, then answered 403.
    pub async fn authorize<R: RoleProof>(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
    ) -> ServiceResult<R> {
        match R::check(caller.clone()) {
            Ok(proof) => Ok(proof),
            Err(caller) => {
                let detail = format!("needs role {}", R::ROLE);
                self.record(&caller, action, target, "denied", &detail).await?;
                Err(refusal(&caller, R::ROLE, action))
            }
        }
    }

    /// The log, newest first, filtered.
    pub async fn query(&self, _reader: &Operator, q: AuditQuery) -> ServiceResult<Vec<AuditRecord>> {
        Ok(self.store.audit(&filter(q)?).await?)
    }
}

/// The store filter of a query: times parsed, the limit capped.
pub fn filter(q: AuditQuery) -> ServiceResult<AuditFilter> {
    let time = |name: &str, value: Option<String>| -> ServiceResult<Option<Timestamp>> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| {
                Timestamp::parse_rfc3339(&v).map_err(|e| ServiceError::bad_request(format!("{name}: {e}")))
            })
            .transpose()
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(AuditFilter {
        actor: nonempty(q.actor),
        action: nonempty(q.action),
        target: nonempty(q.target),
        since: time("since", q.since)?,
        until: time("until", q.until)?,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_times_and_cap_the_limit() {
        let f = filter(AuditQuery {
            since: Some("2026-12-04T00:00:00Z".into()),
            limit: Some(50_000),
            action: Some(String::new()),
            ..AuditQuery::default()
        })
        .unwrap();
        assert_eq!(f.limit, MAX_LIMIT);
        assert_eq!(f.action, None);
        assert!(f.since.is_some());
        let bad = filter(AuditQuery {
            until: Some("yesterday".into()),
            ..AuditQuery::default()
        })
        .unwrap_err();
        assert!(bad.message.starts_with("until: "), "{bad}");
    }
}
