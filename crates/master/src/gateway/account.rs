//! Login and user management.

use std::net::IpAddr;
use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CurrentUser, audit, audited, created};
use crate::auth::{Role, hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::state::SharedState;
use crate::store::UserRecord;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user, delete_user))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub role: Role,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Compared against when the user does not exist, so both answers take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("no such user").unwrap_or_default());

/// The source address of the caller.
pub struct Source(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<SharedState> for Source {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &SharedState,
    ) -> Result<Self, ApiError> {
        Ok(Self(super::source_addr(parts).parse().ok()))
    }
}

/// Exchanges a username and password for a token. At most 10 attempts per source address per
/// minute.
#[utoipa::path(post, path = "/api/v2/auth/login", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
              (status = 429, description = "too many attempts from this address")))]
async fn login(
    State(state): State<SharedState>,
    Source(source): Source,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(authenticate(&state, source, &req).await?))
}

/// Checks a login (rate limited, audited) and issues a token; the web login form calls it too.
pub async fn authenticate(
    state: &SharedState,
    source: Option<IpAddr>,
    req: &LoginRequest,
) -> ApiResult<LoginResponse> {
    let ip = source.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let attempt = CurrentUser {
        username: req.username.clone(),
        role: Role::Viewer,
        source: source.map(|s| s.to_string()).unwrap_or_default(),
    };
    if !state.login_limiter.allow(ip, tokio::time::Instant::now()) {
        Metrics::inc(&state.metrics.logins_limited);
        audit(
            state,
            &attempt,
            "auth.login",
            &format!("user/{}", req.username),
            "denied",
            "rate limited",
        )
        .await?;
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too many login attempts; try again in a minute",
        ));
    }
    let user = state.store.user(&req.username).await?;
    let stored = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = req.password.clone();
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;
    let Some(user) = user.filter(|_| matches) else {
        Metrics::inc(&state.metrics.logins_failed);
        audit(
            state,
            &attempt,
            "auth.login",
            &format!("user/{}", req.username),
            "denied",
            "wrong username or password",
        )
        .await?;
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    let role = Role::parse(&user.role)
        .ok_or_else(|| ApiError::internal(format!("user has an unknown role {:?}", user.role)))?;
    let now_s = u64::try_from(state.now().0 / 1000).unwrap_or_default();
    let token = state
        .tokens
        .issue(&user.username, role, now_s)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Metrics::inc(&state.metrics.logins_ok);
    audit(
        state,
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
        expires_at: now_s + state.config.token_ttl.as_secs(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
}

fn view(user: &UserRecord) -> UserView {
    UserView {
        username: user.username.clone(),
        role: Role::parse(&user.role).unwrap_or(Role::Viewer),
        created_at: user.created_at.to_string(),
    }
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v2/auth/me", responses((status = 200, body = UserView)))]
async fn me(State(state): State<SharedState>, user: CurrentUser) -> ApiResult<Json<UserView>> {
    let record = state
        .store
        .user(&user.username)
        .await?
        .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
    Ok(Json(view(&record)))
}

/// Every user (admin).
#[utoipa::path(get, path = "/api/v2/users", responses((status = 200, body = Vec<UserView>), (status = 403)))]
async fn list_users(State(state): State<SharedState>, user: CurrentUser) -> ApiResult<Json<Vec<UserView>>> {
    if user.role < Role::Admin {
        return Err(ApiError::forbidden("listing users needs role admin"));
    }
    Ok(Json(state.store.users().await?.iter().map(view).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v2/users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)))]
async fn create_user(
    State(state): State<SharedState>,
    user: CurrentUser,
    Json(req): Json<CreateUser>,
) -> ApiResult<Response> {
    Ok(created(create_user_as(&state, &user, req).await?))
}

/// What `POST /api/v2/users` does, audited (the web dashboard calls it too).
pub async fn create_user_as(state: &SharedState, user: &CurrentUser, req: CreateUser) -> ApiResult<UserView> {
    let target = format!("user/{}", req.username);
    user.require(state, Role::Admin, "user.create", &target).await?;
    let outcome = async {
        validate_username(&req.username)?;
        validate_password(&req.password)?;
        let record = UserRecord {
            username: req.username.clone(),
            password_hash: hash_blocking(req.password.clone()).await?,
            role: req.role.as_str().to_owned(),
            created_at: state.now(),
        };
        state.store.create_user(&record).await?;
        Ok(view(&record))
    }
    .await;
    audited(
        state,
        user,
        "user.create",
        &target,
        &format!("role={}", req.role.as_str()),
        outcome,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUser {
    pub role: Option<Role>,
    pub password: Option<String>,
}

/// Changes a user's role or password (admin; anyone may change their own password).
#[utoipa::path(put, path = "/api/v2/users/{username}", request_body = UpdateUser,
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 403), (status = 404)))]
async fn update_user(
    State(state): State<SharedState>,
    user: CurrentUser,
    Path(username): Path<String>,
    Json(req): Json<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(update_user_as(&state, &user, &username, req).await?))
}

/// What `PUT /api/v2/users/{username}` does, audited (the web dashboard calls it too).
pub async fn update_user_as(
    state: &SharedState,
    user: &CurrentUser,
    username: &str,
    req: UpdateUser,
) -> ApiResult<UserView> {
    let username = username.to_owned();
    let target = format!("user/{username}");
    let own_password_only = username == user.username && req.role.is_none();
    if !own_password_only {
        user.require(state, Role::Admin, "user.update", &target).await?;
    }
    let detail = match (req.role, req.password.is_some()) {
        (Some(role), true) => format!("role={}, password", role.as_str()),
        (Some(role), false) => format!("role={}", role.as_str()),
        (None, true) => "password".to_owned(),
        (None, false) => String::new(),
    };
    let outcome = async {
        if username == state.config.admin_username && req.role.is_some_and(|r| r != Role::Admin) {
            return Err(ApiError::bad_request(format!(
                "{username} is the bootstrap admin (MASTER_ADMIN_USERNAME); its role stays admin"
            )));
        }
        if let Some(password) = &req.password {
            validate_password(password)?;
            let hash = hash_blocking(password.clone()).await?;
            state.store.set_user_password(&username, &hash).await?;
        }
        if let Some(role) = req.role {
            state.store.set_user_role(&username, role.as_str()).await?;
        }
        let record = state
            .store
            .user(&username)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("user {username:?} not found")))?;
        Ok(view(&record))
    }
    .await;
    audited(state, user, "user.update", &target, &detail, outcome).await
}

/// Deletes a user (admin); nobody deletes themselves or the bootstrap admin.
#[utoipa::path(delete, path = "/api/v2/users/{username}", params(("username" = String, Path)),
    responses((status = 200), (status = 400), (status = 403), (status = 404)))]
async fn delete_user(
    State(state): State<SharedState>,
    user: CurrentUser,
    Path(username): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    delete_user_as(&state, &user, &username).await?;
    Ok(Json(serde_json::json!({ "status": "deleted" })))
}

/// What `DELETE /api/v2/users/{username}` does, audited (the web dashboard calls it too).
pub async fn delete_user_as(state: &SharedState, user: &CurrentUser, username: &str) -> ApiResult<()> {
    let username = username.to_owned();
    let target = format!("user/{username}");
    user.require(state, Role::Admin, "user.delete", &target).await?;
    let outcome = async {
        if username == user.username || username == state.config.admin_username {
            return Err(ApiError::bad_request(format!(
                "{username} cannot be deleted: it is you or the bootstrap admin"
            )));
        }
        state.store.delete_user(&username).await?;
        Ok(())
    }
    .await;
    audited(state, user, "user.delete", &target, "", outcome).await
}

fn validate_username(name: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

fn validate_password(password: &str) -> ApiResult<()> {
    if password.chars().count() >= 8 {
        Ok(())
    } else {
        Err(ApiError::bad_request("password must be at least 8 characters"))
    }
}

pub async fn hash_blocking(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))
}
