//! Users and their roles.

use async_trait::async_trait;
use atlhyper_model::Timestamp;

use super::{SqliteStore, conflict_or, found};
use crate::store::{StoreResult, UserRecord, UserStore};

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(&user.role)
            .bind(user.created_at.0)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or(e, || format!("user {}", user.username)))?;
        Ok(())
    }

    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row: Option<(String, String, String, i64)> =
            sqlx::query_as("SELECT username, password_hash, role, created_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user_record))
    }

    async fn users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT username, password_hash, role, created_at FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(user_record).collect())
    }

    async fn set_user_role(&self, username: &str, role: &str) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE users SET role = $2 WHERE username = $1")
            .bind(username)
            .bind(role)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }

    async fn set_user_password(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE users SET password_hash = $2 WHERE username = $1")
            .bind(username)
            .bind(password_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }

    async fn delete_user(&self, username: &str) -> StoreResult<()> {
        let changed = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }
}

fn user_record((username, password_hash, role, created_at): (String, String, String, i64)) -> UserRecord {
    UserRecord {
        username,
        password_hash,
        role,
        created_at: Timestamp(created_at),
    }
}
