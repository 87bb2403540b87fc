//! AIOps incidents (a row each, members and timeline in child tables) and engine states.

use async_trait::async_trait;
use atlhyper_aiops::{Incident, IncidentEntity, TimelineEntry};
use atlhyper_model::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Row};

use super::{SqliteStore, corrupt, to_i64, to_u64};
use crate::store::{
    AiopsChanges, AiopsStore, EngineStateRecord, IncidentFilter, IncidentStateFilter, StoreError, StoreResult,
};

/// An enum's serde name (`warning`, `root_cause`, …) as stored in a TEXT column.
fn word<T: Serialize>(value: &T, what: &'static str) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(StoreError::Invalid {
            what,
            message: format!("expected a name, got {other}"),
        }),
        Err(e) => Err(StoreError::Invalid {
            what,
            message: e.to_string(),
        }),
    }
}

fn from_word<T: DeserializeOwned>(text: String, what: &'static str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| corrupt(what, e))
}

/// The WHERE clause and its text parameters for a filter (numbered from `$1`).
fn where_clause(filter: &IncidentFilter) -> StoreResult<(String, Vec<String>, Vec<i64>)> {
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    if let Some(cluster) = &filter.cluster {
        texts.push(cluster.clone());
        clauses.push(format!("cluster_id = ${}", texts.len()));
    }
    match filter.state {
        None => {}
        Some(IncidentStateFilter::Open) => clauses.push("resolved_at IS NULL".into()),
        Some(IncidentStateFilter::Resolved) => clauses.push("resolved_at IS NOT NULL".into()),
        Some(IncidentStateFilter::Is(state)) => {
            texts.push(word(&state, "incident state")?);
            clauses.push(format!("state = ${}", texts.len()));
        }
    }
    let base = texts.len();
    if let Some(from) = filter.started_from {
        numbers.push(from.0);
        clauses.push(format!("started_at >= ${}", base + numbers.len()));
    }
    if let Some(before) = filter.started_before {
        numbers.push(before.0);
        clauses.push(format!("started_at < ${}", base + numbers.len()));
    }
    Ok((clauses.join(" AND "), texts, numbers))
}

type IncidentRow = (String, String, String, String, String, f64, i64, Option<i64>, i64);

const INCIDENT_COLUMNS: &str =
    "id, cluster_id, state, severity, root_cause, peak_risk, started_at, resolved_at, recurrence";

fn incident_of(row: IncidentRow) -> StoreResult<Incident> {
    let (id, cluster, state, severity, root_cause, peak_risk, started_at, resolved_at, recurrence) = row;
    Ok(Incident {
        id,
        cluster,
        state: from_word(state, "aiops_incidents.state")?,
        severity: from_word(severity, "aiops_incidents.severity")?,
        root_cause,
        peak_risk,
        started_at_ms: started_at,
        resolved_at_ms: resolved_at,
        recurrence: u32::try_from(recurrence).map_err(|e| corrupt("aiops_incidents.recurrence", e))?,
        entities: Vec::new(),
        timeline: Vec::new(),
    })
}

async fn members(conn: &mut SqliteConnection, id: &str) -> StoreResult<Vec<IncidentEntity>> {
    let rows = sqlx::query(
        "SELECT entity, kind, role, r_local, r_final, peak_r_final, state, joined_at, active \
         FROM aiops_incident_entities WHERE incident_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(IncidentEntity {
                key: r.try_get(0)?,
                kind: from_word(r.try_get(1)?, "aiops_incident_entities.kind")?,
                role: from_word(r.try_get(2)?, "aiops_incident_entities.role")?,
                r_local: r.try_get(3)?,
                r_final: r.try_get(4)?,
                peak_r_final: r.try_get(5)?,
                state: from_word(r.try_get(6)?, "aiops_incident_entities.state")?,
                joined_at_ms: r.try_get(7)?,
                active: r.try_get::<i64, _>(8)? != 0,
            })
        })
        .collect()
}

async fn timeline(conn: &mut SqliteConnection, id: &str) -> StoreResult<Vec<TimelineEntry>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT at, entity, event FROM aiops_incident_timeline WHERE incident_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(at, entity, event)| {
            Ok(TimelineEntry {
                at_ms: at,
                entity,
                event: serde_json::from_str(&event)
                    .map_err(|e| corrupt("aiops_incident_timeline.event", e))?,
            })
        })
        .collect()
}

async fn write_incident(conn: &mut SqliteConnection, incident: &Incident, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO aiops_incidents \
             (id, cluster_id, state, severity, root_cause, peak_risk, started_at, resolved_at, recurrence, \
              entities, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity, \
             root_cause = excluded.root_cause, peak_risk = excluded.peak_risk, \
             resolved_at = excluded.resolved_at, recurrence = excluded.recurrence, \
             entities = excluded.entities, updated_at = excluded.updated_at",
    )
    .bind(&incident.id)
    .bind(&incident.cluster)
    .bind(word(&incident.state, "incident state")?)
    .bind(word(&incident.severity, "incident severity")?)
    .bind(&incident.root_cause)
    .bind(incident.peak_risk)
    .bind(incident.started_at_ms)
    .bind(incident.resolved_at_ms)
    .bind(i64::from(incident.recurrence))
    .bind(to_i64(incident.entities.len() as u64, "incident members")?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for table in ["aiops_incident_entities", "aiops_incident_timeline"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE incident_id = $1"
        )))
        .bind(&incident.id)
        .execute(&mut *conn)
        .await?;
    }
    for (position, m) in incident.entities.iter().enumerate() {
        sqlx::query(
            "INSERT INTO aiops_incident_entities \
                 (incident_id, position, entity, kind, role, r_local, r_final, peak_r_final, state, joined_at, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&incident.id)
        .bind(to_i64(position as u64, "member position")?)
        .bind(&m.key)
        .bind(word(&m.kind, "entity kind")?)
        .bind(word(&m.role, "member role")?)
        .bind(m.r_local)
        .bind(m.r_final)
        .bind(m.peak_r_final)
        .bind(word(&m.state, "member state")?)
        .bind(m.joined_at_ms)
        .bind(i64::from(m.active))
        .execute(&mut *conn)
        .await?;
    }
    for (position, entry) in incident.timeline.iter().enumerate() {
        let event = serde_json::to_string(&entry.event).map_err(|e| StoreError::Invalid {
            what: "timeline event",
            message: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO aiops_incident_timeline (incident_id, position, at, entity, event) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&incident.id)
        .bind(to_i64(position as u64, "timeline position")?)
        .bind(entry.at_ms)
        .bind(&entry.entity)
        .bind(event)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl AiopsStore for SqliteStore {
    async fn save_aiops(&self, changes: AiopsChanges<'_>) -> StoreResult<()> {
        if changes.incidents.is_empty() && changes.removed.is_empty() && changes.state.is_none() {
            return Ok(());
        }
        let now = changes.state.as_ref().map_or(0, |s| s.saved_at.0);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for incident in &changes.incidents {
            write_incident(&mut tx, incident, now).await?;
        }
        for id in &changes.removed {
            sqlx::query("DELETE FROM aiops_incidents WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(state) = &changes.state {
            sqlx::query(
                "INSERT INTO aiops_engine_state (cluster_id, version, saved_at, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (cluster_id) DO UPDATE SET version = excluded.version, \
                     saved_at = excluded.saved_at, state = excluded.state",
            )
            .bind(&state.cluster_id)
            .bind(i64::from(state.version))
            .bind(state.saved_at.0)
            .bind(&state.state)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<(Vec<Incident>, u64)> {
        let (clause, texts, numbers) = where_clause(filter)?;
        let mut tx = self.pool.begin().await?;
        let count_sql = format!("SELECT COUNT(*) FROM aiops_incidents WHERE {clause}");
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        for t in &texts {
            count = count.bind(t);
        }
        for n in &numbers {
            count = count.bind(n);
        }
        let total = count.fetch_one(&mut *tx).await?;
        let limit = if filter.limit == 0 {
            -1
        } else {
            i64::from(filter.limit)
        };
        let rows_sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM aiops_incidents WHERE {clause} \
             ORDER BY started_at DESC, id DESC LIMIT {limit} OFFSET {}",
            filter.offset
        );
        let mut rows = sqlx::query_as::<_, IncidentRow>(AssertSqlSafe(rows_sql));
        for t in &texts {
            rows = rows.bind(t);
        }
        for n in &numbers {
            rows = rows.bind(n);
        }
        let mut incidents = Vec::new();
        for row in rows.fetch_all(&mut *tx).await? {
            let mut incident = incident_of(row)?;
            incident.entities = members(&mut tx, &incident.id).await?;
            incidents.push(incident);
        }
        Ok((incidents, to_u64(total, "incident count")?))
    }

    async fn incident(&self, id: &str) -> StoreResult<Option<Incident>> {
        let mut tx = self.pool.begin().await?;
        let row: Option<IncidentRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM aiops_incidents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut incident = incident_of(row)?;
        incident.entities = members(&mut tx, id).await?;
        incident.timeline = timeline(&mut tx, id).await?;
        Ok(Some(incident))
    }

    async fn prune_incidents(&self, resolved_before: Timestamp) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM aiops_incidents WHERE resolved_at IS NOT NULL AND resolved_at < $1")
                .bind(resolved_before.0)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn engine_states(&self) -> StoreResult<Vec<EngineStateRecord>> {
        let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT cluster_id, version, saved_at, state FROM aiops_engine_state ORDER BY cluster_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(cluster_id, version, saved_at, state)| {
                Ok(EngineStateRecord {
                    cluster_id,
                    version: u32::try_from(version).map_err(|e| corrupt("aiops_engine_state.version", e))?,
                    saved_at: Timestamp(saved_at),
                    state,
                })
            })
            .collect()
    }

    async fn legacy_aiops_state(&self) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT json FROM aiops_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn drop_legacy_aiops_state(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM aiops_state").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_parameters_in_bind_order() {
        let (clause, texts, numbers) = where_clause(&IncidentFilter {
            cluster: Some("prod".into()),
            state: Some(IncidentStateFilter::Is(atlhyper_aiops::State::Warning)),
            started_from: Some(Timestamp(5)),
            started_before: Some(Timestamp(9)),
            ..IncidentFilter::default()
        })
        .unwrap();
        assert_eq!(
            clause,
            "1 = 1 AND cluster_id = $1 AND state = $2 AND started_at >= $3 AND started_at < $4"
        );
        assert_eq!(
            (texts, numbers),
            (vec!["prod".to_owned(), "warning".to_owned()], vec![5, 9])
        );
    }
}
