//! Login and user management.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Source;
use crate::http::{ApiResult, created};
use crate::service::accounts::{CreateUser, LoginRequest, LoginResponse, UpdateUser, UserView};
use crate::service::{Admin, App, Caller, Viewer};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user, delete_user))
}

/// Exchanges a username and password for a token. At most 10 attempts per source address per
/// minute.
#[utoipa::path(post, path = "/api/v2/auth/login", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
              (status = 429, description = "too many attempts from this address")))]
async fn login(
    State(app): State<App>,
    Source(source): Source,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(app.accounts.login(source, &req).await?))
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v2/auth/me", responses((status = 200, body = UserView)))]
async fn me(State(app): State<App>, viewer: Viewer) -> ApiResult<Json<UserView>> {
    Ok(Json(app.accounts.me(&viewer).await?))
}

/// Every user (admin).
#[utoipa::path(get, path = "/api/v2/users", responses((status = 200, body = Vec<UserView>), (status = 403)))]
async fn list_users(State(app): State<App>, admin: Admin) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(app.accounts.list(&admin).await?))
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v2/users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)))]
async fn create_user(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<Response> {
    Ok(created(app.accounts.create(&caller, req).await?))
}

/// Changes a user's role or password (admin; anyone may change their own password).
#[utoipa::path(put, path = "/api/v2/users/{username}", request_body = UpdateUser,
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 403), (status = 404)))]
async fn update_user(
    State(app): State<App>,
    caller: Caller,
    Path(username): Path<String>,
    Json(req): Json<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.accounts.update(&caller, &username, req).await?))
}

/// Deletes a user (admin); nobody deletes themselves or the bootstrap admin.
#[utoipa::path(delete, path = "/api/v2/users/{username}", params(("username" = String, Path)),
    responses((status = 200), (status = 400), (status = 403), (status = 404)))]
async fn delete_user(
    State(app): State<App>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    app.accounts.delete(&caller, &username).await?;
    Ok(Json(serde_json::json!({ "status": "deleted" })))
}
