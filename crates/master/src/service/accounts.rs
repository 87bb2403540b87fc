//! Logins (rate limited per source, audited) and user management.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{LoginLimiter, Role, TokenIssuer, hash_password, verify_password};
use crate::metrics::Metrics;
use crate::service::access::{Admin, Caller, Viewer};
use crate::service::audit::Audit;
use crate::service::{Clock, ErrorKind, ServiceError, ServiceResult};
use crate::store::{Store, UserRecord};

#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    tokens: TokenIssuer,
    limiter: Arc<LoginLimiter>,
    clock: Clock,
    /// The bootstrap admin (`MASTER_ADMIN_USERNAME`): stays an admin, cannot be deleted.
    bootstrap_admin: String,
    token_ttl_s: u64,
    metrics: Arc<Metrics>,
    audit: Audit,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// Unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[schema(value_type = String)]
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUser {
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub password: Option<String>,
}

/// Compared against when the user does not exist, so both answers take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("no such user").unwrap_or_default());

fn view(user: &UserRecord) -> UserView {
    UserView {
        username: user.username.clone(),
        role: Role::parse(&user.role).unwrap_or(Role::Viewer),
        created_at: user.created_at.to_string(),
    }
}

pub fn validate_username(name: &str) -> ServiceResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

pub fn validate_password(password: &str) -> ServiceResult<()> {
    if password.chars().count() >= 8 {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "password must be at least 8 characters",
        ))
    }
}

/// Hashes off the async workers: argon2id takes tens of milliseconds.
async fn hash_blocking(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::internal("password hashing", e))?
        .map_err(|e| ServiceError::internal("password hashing", e))
}

/// What `Accounts` needs beyond the store.
pub struct AccountSettings {
    pub tokens: TokenIssuer,
    pub limiter: Arc<LoginLimiter>,
    pub bootstrap_admin: String,
    pub token_ttl_s: u64,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        settings: AccountSettings,
        clock: Clock,
        metrics: Arc<Metrics>,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            tokens: settings.tokens,
            limiter: settings.limiter,
            clock,
            bootstrap_admin: settings.bootstrap_admin,
            token_ttl_s: settings.token_ttl_s,
            metrics,
            audit,
        }
    }

    /// Checks a login (rate limited per source, audited) and issues a token.
    pub async fn login(&self, source: Option<IpAddr>, req: &LoginRequest) -> ServiceResult<LoginResponse> {
        let ip = source.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let attempt = Caller {
            username: req.username.clone(),
            role: Role::Viewer,
            source: source.map(|s| s.to_string()).unwrap_or_default(),
        };
        let target = format!("user/{}", req.username);
        if !self.limiter.allow(ip, tokio::time::Instant::now()) {
            Metrics::inc(&self.metrics.logins_limited);
            self.audit
                .record(&attempt, "auth.login", &target, "denied", "rate limited")
                .await?;
            return Err(ServiceError::new(
                ErrorKind::TooManyRequests,
                "too many login attempts; try again in a minute",
            ));
        }
        let user = self.store.user(&req.username).await?;
        let stored = user
            .as_ref()
            .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
        let password = req.password.clone();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .map_err(|e| ServiceError::internal("checking a password", e))?;
        let Some(user) = user.filter(|_| matches) else {
            Metrics::inc(&self.metrics.logins_failed);
            self.audit
                .record(
                    &attempt,
                    "auth.login",
                    &target,
                    "denied",
                    "wrong username or password",
                )
                .await?;
            return Err(ServiceError::unauthorized("wrong username or password"));
        };
        let role = Role::parse(&user.role)
            .ok_or_else(|| ServiceError::internal("logging in", format!("unknown role {:?}", user.role)))?;
        let now_s = u64::try_from((self.clock)().0 / 1000).unwrap_or_default();
        let token = self
            .tokens
            .issue(&user.username, role, now_s)
            .map_err(|e| ServiceError::internal("signing a token", e))?;
        Metrics::inc(&self.metrics.logins_ok);
        self.audit
            .record(
                &attempt,
                "auth.login",
                &format!("user/{}", user.username),
                "ok",
                "",
            )
            .await?;
        Ok(LoginResponse {
            token,
            role,
            expires_at: now_s + self.token_ttl_s,
        })
    }

    /// Audits a logout (the token itself expires on its own).
    pub async fn logout(&self, caller: &Caller) -> ServiceResult<()> {
        self.audit
            .record(
                caller,
                "auth.logout",
                &format!("user/{}", caller.username),
                "ok",
                "",
            )
            .await
    }

    /// The caller's own account.
    pub async fn me(&self, caller: &Viewer) -> ServiceResult<UserView> {
        let record = self
            .store
            .user(&caller.username)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("user no longer exists"))?;
        Ok(view(&record))
    }

    /// Every user.
    pub async fn list(&self, _admin: &Admin) -> ServiceResult<Vec<UserView>> {
        Ok(self.store.users().await?.iter().map(view).collect())
    }

    /// Whether `username` is the bootstrap admin of the environment.
    pub fn is_bootstrap_admin(&self, username: &str) -> bool {
        username == self.bootstrap_admin
    }

    /// Creates a user (admin; audited).
    pub async fn create(&self, caller: &Caller, req: CreateUser) -> ServiceResult<UserView> {
        let target = format!("user/{}", req.username);
        let admin: Admin = self.audit.authorize(caller, "user.create", &target).await?;
        let outcome = async {
            validate_username(&req.username)?;
            validate_password(&req.password)?;
            let record = UserRecord {
                username: req.username.clone(),
                password_hash: hash_blocking(req.password.clone()).await?,
                role: req.role.as_str().to_owned(),
                created_at: (self.clock)(),
            };
            self.store.create_user(&record).await?;
            Ok(view(&record))
        }
        .await;
        let detail = format!("role={}", req.role);
        self.audit
            .outcome(&admin, "user.create", &target, &detail, outcome)
            .await
    }

    /// Changes a user's role or password (admin; anyone may change their own password).
    pub async fn update(&self, caller: &Caller, username: &str, req: UpdateUser) -> ServiceResult<UserView> {
        let target = format!("user/{username}");
        let own_password_only = username == caller.username && req.role.is_none();
        if !own_password_only {
            let _: Admin = self.audit.authorize(caller, "user.update", &target).await?;
        }
        let detail = match (req.role, req.password.is_some()) {
            (Some(role), true) => format!("role={role}, password"),
            (Some(role), false) => format!("role={role}"),
            (None, true) => "password".to_owned(),
            (None, false) => String::new(),
        };
        let outcome = async {
            if self.is_bootstrap_admin(username) && req.role.is_some_and(|r| r != Role::Admin) {
                return Err(ServiceError::bad_request(format!(
                    "{username} is the bootstrap admin (MASTER_ADMIN_USERNAME); its role stays admin"
                )));
            }
            if let Some(password) = &req.password {
                validate_password(password)?;
                let hash = hash_blocking(password.clone()).await?;
                self.store.set_user_password(username, &hash).await?;
            }
            if let Some(role) = req.role {
                self.store.set_user_role(username, role.as_str()).await?;
            }
            let record = self
                .store
                .user(username)
                .await?
                .ok_or_else(|| ServiceError::not_found(format!("user {username:?} not found")))?;
            Ok(view(&record))
        }
        .await;
        self.audit
            .outcome(caller, "user.update", &target, &detail, outcome)
            .await
    }

    /// Deletes a user (admin); nobody deletes themselves or the bootstrap admin.
    pub async fn delete(&self, caller: &Caller, username: &str) -> ServiceResult<()> {
        let target = format!("user/{username}");
        let admin: Admin = self.audit.authorize(caller, "user.delete", &target).await?;
        let outcome = async {
            if username == admin.username || self.is_bootstrap_admin(username) {
                return Err(ServiceError::bad_request(format!(
                    "{username} cannot be deleted: it is you or the bootstrap admin"
                )));
            }
            self.store.delete_user(username).await?;
            Ok(())
        }
        .await;
        self.audit
            .outcome(&admin, "user.delete", &target, "", outcome)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(validate_username("ana.o-b@x").is_ok());
        assert!(validate_username("").is_err() && validate_username("a b").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
    }
}
