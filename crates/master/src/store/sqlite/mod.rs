//! The [`Store`](crate::store::Store) on SQLite: one file in WAL mode with `synchronous =
//! FULL`, so a write is on disk when the call that made it returns, and a small pool of
//! connections (one writer at a time, readers beside it). One file per store trait; the
//! counter engine is `counters.rs` over `counter_rows.rs`, the bucket codec `buckets.rs`.
//!
//! Statements are runtime queries with `$1, $2…` placeholders so that a PostgreSQL store can
//! share them; timestamps are INTEGER milliseconds, JSON is TEXT. The schema is in
//! `migrations/sqlite`.
//!
//! SLO counters live in two tables of the same shape, `slo_minutes` and `slo_hours`, keyed by
//! (group, start), and two hour boundaries in `slo_rollup` say which rows exist:
//!
//! ```text
//!            raw_from                rolled_until
//! ── hours only ──┼── hours and minutes ──┼── minutes only ──▶ time
//! ```
//!
//! Retention rolls every complete hour up (moving `rolled_until`), then deletes the minutes of
//! hours older than the raw retention (moving `raw_from`), one transaction per hour. Ingest adds
//! a counter to its minute when the minute is at or after `raw_from` and to its hour when the
//! hour is before `rolled_until`, so an hour in the middle stays equal to the sum of its
//! minutes even when a late snapshot lands in it.
//!
//! The read rule: a point (minute or hour) belongs to `[from, to)` when its start does; before
//! `raw_from` only hours exist. [`CounterStore::counter_points`](crate::store::CounterStore::counter_points) returns minutes wherever they exist;
//! [`CounterStore::window_counters`](crate::store::CounterStore::window_counters) reads the whole rolled-up hours inside the window from
//! `slo_hours` and only the ragged ends from `slo_minutes`: the same sum, with 24 rows a day per
//! group instead of 1,440. All reads of one call share one read transaction.

mod aiops;
mod audit;
mod buckets;
mod clusters;
mod commands;
mod counter_rows;
mod counters;
mod objectives;
mod snapshots;
mod users;

use std::path::Path;
use std::time::Duration;

use atlhyper_model::SloType;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{StoreError, StoreResult};

/// The migrations, embedded at build time. (`sqlx::migrate!` is behind sqlx's `macros`
/// feature, which would also build the compile-time query machinery; the proc macro it
/// forwards to is available with `migrate` + `derive`.)
static MIGRATOR: sqlx::migrate::Migrator = sqlx::sqlx_macros::migrate!("migrations/sqlite");

/// How long a connection waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool of a file database: one writer at a time, readers beside it.
const POOL_SIZE: u32 = 4;
/// SQLite's page cache per connection, in KiB.
const CACHE_KIB: u32 = 32 * 1024;
/// WAL size (in 4 KiB pages) that triggers a checkpoint.
const WAL_CHECKPOINT_PAGES: u32 = 8192;

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Negative: KiB. Room for the pages an ingest of thousands of groups touches
            // (SQLite's default is 2 MiB).
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            // Statement journals of multi-row upserts in memory, not in temporary files.
            .pragma("temp_store", "memory")
            // Checkpoint every 32 MiB of WAL instead of 4 MiB: an ingest rewrites the same
            // pages (each group's current minute) again and again, and a checkpoint copies
            // each page once however often it changed.
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    /// A private in-memory database on a single connection that lives as long as the store.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().in_memory(true).foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> StoreResult<Self> {
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail. Waits for calls in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

// ---- small helpers ----------------------------------------------------------------------

/// `ms` rounded down to a multiple of `step`, also for times before the epoch.
fn floor_to(ms: i64, step: i64) -> i64 {
    ms.div_euclid(step).saturating_mul(step)
}

/// `ms` rounded up to a multiple of `step`.
fn ceil_to(ms: i64, step: i64) -> i64 {
    let floor = floor_to(ms, step);
    if floor == ms {
        ms
    } else {
        floor.saturating_add(step)
    }
}

fn parse_kind(text: String, what: &'static str) -> StoreResult<SloType> {
    match text.as_str() {
        "ingress" => Ok(SloType::Ingress),
        "service" => Ok(SloType::Service),
        _ => Err(StoreError::Corrupt {
            what,
            message: format!("unknown slo type {text:?}"),
        }),
    }
}

fn to_i64(value: u64, what: &'static str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid {
        what,
        message: format!("{value} is above {}", i64::MAX),
    })
}

fn to_u64(value: i64, what: &'static str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}

fn corrupt(what: &'static str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        message: error.to_string(),
    }
}

/// A unique-constraint violation becomes [`StoreError::Conflict`].
fn conflict_or(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: what() },
        _ => StoreError::Database(error),
    }
}

/// No row changed means the thing was not there.
fn found(rows_changed: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows_changed == 0 {
        Err(StoreError::NotFound { what: what() })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HOUR_MS, MINUTE_MS};

    #[test]
    fn floors_to_minutes_and_hours_before_and_after_the_epoch() {
        assert_eq!(floor_to(59_999, MINUTE_MS), 0);
        assert_eq!(floor_to(60_000, MINUTE_MS), 60_000);
        assert_eq!(floor_to(-1, MINUTE_MS), -60_000);
        assert_eq!(floor_to(HOUR_MS * 5 + 1, HOUR_MS), HOUR_MS * 5);
        assert_eq!(floor_to(i64::MIN, HOUR_MS), i64::MIN);
    }

    #[test]
    fn ceils_to_hours() {
        assert_eq!(ceil_to(0, HOUR_MS), 0);
        assert_eq!(ceil_to(1, HOUR_MS), HOUR_MS);
        assert_eq!(ceil_to(-1, HOUR_MS), 0);
        assert_eq!(ceil_to(i64::MAX, HOUR_MS), i64::MAX);
    }
}
