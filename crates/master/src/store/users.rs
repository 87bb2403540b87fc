//! Users, their password hashes and roles.

use async_trait::async_trait;
use atlhyper_model::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn users(&self) -> StoreResult<Vec<UserRecord>>;
    async fn set_user_role(&self, username: &str, role: &str) -> StoreResult<()>;
    async fn set_user_password(&self, username: &str, password_hash: &str) -> StoreResult<()>;
    async fn delete_user(&self, username: &str) -> StoreResult<()>;
}
