//! Remote operations from the dashboard: the form on an object's page, a confirmation step for
//! what changes the cluster, and the command history with results (operator and admin). The
//! commands service checks, queues and audits them, as it does for the JSON API.

use askama::Template;
use atlhyper_model::CommandStatus;
use atlhyper_model::resources::ResourceKind;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::i18n::Tr;
use super::pages::{Page, Scripts, render};
use super::session::{CsrfForm, WebRole, WebUser};
use super::{InLang, WebError, fmt};
use crate::auth::Role;
use crate::service::commands::{CommandListQuery, CommandRequest};
use crate::service::{App, ErrorKind, Operator, ServiceError};
use crate::store::CommandRecord;

use super::fmt::clean;
use super::pages::resource_href;
use super::resources::operations;

#[derive(Debug, Deserialize)]
pub struct OperateForm {
    action: String,
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
    #[serde(default)]
    replicas: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    tail_lines: String,
    /// `review` (the default) shows the confirmation; `confirm` queues the command.
    #[serde(default)]
    step: String,
}

#[derive(Template)]
#[template(path = "operate.html")]
pub struct ConfirmPage {
    pub page: Page,
    pub action: String,
    pub action_label: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub replicas: String,
    pub image: String,
    pub tail_lines: String,
    pub params: String,
    pub danger: bool,
    pub cancel: String,
}

fn params_of(form: &OperateForm) -> Result<Value, ServiceError> {
    let bad = |what: &str| ServiceError::bad_request(format!("{what} must be a whole number"));
    Ok(match form.action.as_str() {
        "scale" => json!({ "replicas": form.replicas.trim().parse::<i64>().map_err(|_| bad("replicas"))? }),
        "update_image" => json!({ "image": form.image.trim() }),
        "logs" if !form.tail_lines.trim().is_empty() => {
            json!({ "tail_lines": form.tail_lines.trim().parse::<i64>().map_err(|_| bad("tail_lines"))? })
        }
        _ => json!({}),
    })
}

/// Step one shows what will run and asks to confirm; step two queues it with the commands
/// service (validated and audited like the API) and opens the history. A caller below operator
/// is refused at step one already, and the refusal audited.
pub async fn operate(
    State(app): State<App>,
    uri: Uri,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<OperateForm>,
) -> Result<Response, WebError> {
    let target = format!("cluster/{id}/{}/{}/{}", form.kind, form.namespace, form.name);
    let action = format!("command.{}", form.action);
    if let Err(e) = app
        .audit
        .authorize::<Operator>(&user.caller, &action, &target)
        .await
    {
        return Err(match e.kind {
            ErrorKind::Forbidden => WebError::forbidden(user.lang, Role::Operator),
            _ => WebError::from(e).in_lang(user.lang),
        });
    }
    let t = Tr::new(user.lang);
    let kind = ResourceKind::parse(&form.kind).unwrap_or(ResourceKind::Pod);
    let detail = resource_href(&id, &form.kind, &form.namespace, &form.name);
    let params = params_of(&form);
    if form.step != "confirm" {
        let ops = operations(t, kind);
        let Some(op) = ops.iter().find(|o| o.action == form.action) else {
            return Err(WebError::not_found(
                user.lang,
                t.fill("ops.unknown", &[("action", &form.action)]),
            ));
        };
        let mut page = Page::new(
            &app,
            &user,
            &uri,
            "resources",
            t.get("ops.confirm_title").to_owned(),
            Some(&id),
            Scripts::Plain,
        )
        .await?;
        page.title = t.fill(
            "ops.confirm_title_of",
            &[("action", op.label), ("name", &form.name)],
        );
        // The page answers a POST: its language links go back to the object.
        page.langs = super::pages::lang_links(user.lang, &detail);
        return Ok(render(&ConfirmPage {
            action_label: op.label,
            danger: op.danger,
            params: params
                .as_ref()
                .map_or_else(|e| e.message.clone(), Value::to_string),
            action: form.action.clone(),
            kind: form.kind.clone(),
            namespace: form.namespace.clone(),
            name: form.name.clone(),
            replicas: form.replicas.clone(),
            image: form.image.clone(),
            tail_lines: form.tail_lines.clone(),
            cancel: detail,
            page,
        })?
        .into_response());
    }
    let outcome = match params {
        Ok(params) => {
            let request = CommandRequest {
                action: form.action.clone(),
                kind: form.kind.clone(),
                namespace: form.namespace.clone(),
                name: form.name.clone(),
                params,
                confirm: true,
                timeout_s: None,
            };
            app.commands
                .enqueue(&user.caller, &id, request)
                .await
                .map(|c| c.id)
        }
        Err(e) => Err(e),
    };
    let history = format!("/clusters/{id}/commands");
    Ok(match outcome {
        Ok(cmd) => Redirect::to(&format!("{history}?{}", fmt::query(&[("queued", &cmd)]))),
        Err(e) => Redirect::to(&format!("{history}?{}", fmt::query(&[("error", &e.message)]))),
    }
    .into_response())
}

pub struct CommandRow {
    pub id: String,
    pub action: String,
    pub target: String,
    pub status: String,
    pub status_class: &'static str,
    pub created_by: String,
    pub created: String,
    pub updated: String,
    pub result: String,
    pub highlight: bool,
}

pub struct CommandsLive {
    pub t: Tr,
    pub rows: Vec<CommandRow>,
    pub total: u64,
    pub refresh: String,
}

#[derive(Template)]
#[template(path = "commands.html")]
pub struct CommandsPage {
    pub page: Page,
    pub queued: String,
    pub queued_text: String,
    pub error: String,
    pub live: CommandsLive,
}

#[derive(Template)]
#[template(source = r#"{% include "partials/commands_live.html" %}"#, ext = "html")]
pub struct CommandsFragment {
    pub live: CommandsLive,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    queued: Option<String>,
    error: Option<String>,
}

/// One command of the history: what ran on what, by whom, how it ended and its output (the
/// first 4,000 characters).
pub fn command_row(c: &CommandRecord, queued: &str) -> CommandRow {
    let action = &c.command.action;
    let params = action.params();
    let target = &c.command.target;
    CommandRow {
        highlight: c.id == queued,
        id: c.id.clone(),
        action: if params.as_object().is_some_and(|m| !m.is_empty()) {
            format!("{} {params}", action.name())
        } else {
            action.name().to_owned()
        },
        target: format!("{}/{}/{}", target.kind, target.namespace, target.name).replace("//", "/"),
        status_class: match c.status {
            CommandStatus::Succeeded => "healthy",
            CommandStatus::Failed | CommandStatus::TimedOut => "critical",
            CommandStatus::Running => "info",
            CommandStatus::Pending => "warning",
        },
        status: c.status.as_str().to_owned(),
        created_by: c.created_by.clone(),
        created: fmt::time(c.created_at),
        updated: fmt::time(c.updated_at),
        result: c.result.as_ref().map_or_else(String::new, |r| {
            let text = r.get("output").and_then(Value::as_str).map_or_else(
                || serde_json::to_string_pretty(r).unwrap_or_default(),
                str::to_owned,
            );
            if text.chars().count() > 4000 {
                text.chars().take(4000).collect::<String>() + "…"
            } else {
                text
            }
        }),
    }
}

async fn build_commands(
    app: &App,
    user: &WebUser,
    reader: &Operator,
    id: &str,
    queued: &str,
) -> Result<CommandsLive, WebError> {
    let t = Tr::new(user.lang);
    let query = CommandListQuery {
        status: None,
        limit: Some(200),
        offset: None,
    };
    let list = app.commands.list(reader, id, query).await.lang(user.lang)?;
    let rows = list.items.iter().map(|c| command_row(c, queued)).collect();
    Ok(CommandsLive {
        t,
        rows,
        total: list.total,
        refresh: format!(
            "/clusters/{id}/commands/live?{}",
            fmt::query(&[("queued", queued)])
        ),
    })
}

pub async fn commands(
    State(app): State<App>,
    WebRole { user, proof }: WebRole<Operator>,
    uri: Uri,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, WebError> {
    let t = Tr::new(user.lang);
    let queued = clean(&p.queued);
    let live = build_commands(&app, &user, &proof, &id, &queued).await?;
    let page = Page::of_cluster(
        &app,
        &user,
        &uri,
        "commands",
        &id,
        Scripts::Plain,
        "commands.title",
    )
    .await?;
    Ok(render(&CommandsPage {
        queued_text: t.fill("commands.queued", &[("id", &queued)]),
        queued,
        error: clean(&p.error),
        live,
        page,
    })?
    .into_response())
}

pub async fn commands_live(
    State(app): State<App>,
    WebRole { user, proof }: WebRole<Operator>,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, WebError> {
    let live = build_commands(&app, &user, &proof, &id, &clean(&p.queued)).await?;
    Ok(render(&CommandsFragment { live })?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::{Command, Timestamp};

    fn record(status: CommandStatus, result: Option<Value>) -> CommandRecord {
        let command: Command = serde_json::from_value(json!({
            "action": "scale", "kind": "Deployment", "namespace": "shop", "name": "cart",
            "params": {"replicas": 3}, "created_by": "otto", "timeout_s": 60
        }))
        .unwrap();
        CommandRecord {
            id: "c1".into(),
            cluster_id: "prod".into(),
            command,
            status,
            created_by: "otto".into(),
            created_at: Timestamp(0),
            updated_at: Timestamp(1_000),
            result,
        }
    }

    #[test]
    fn a_command_row_names_action_target_and_outcome() {
        let row = command_row(
            &record(CommandStatus::Succeeded, Some(json!({"output": "scaled"}))),
            "c1",
        );
        assert_eq!(row.action, r#"scale {"replicas":3}"#);
        assert_eq!(row.target, "Deployment/shop/cart");
        assert_eq!((row.status.as_str(), row.status_class), ("succeeded", "healthy"));
        assert_eq!(row.result, "scaled");
        assert!(row.highlight);
        let long = "x".repeat(5000);
        let failed = command_row(
            &record(CommandStatus::TimedOut, Some(json!({"output": long}))),
            "other",
        );
        assert_eq!(failed.status_class, "critical");
        assert_eq!(
            failed.result.chars().count(),
            4001,
            "cut at 4,000 characters and an ellipsis"
        );
        assert!(!failed.highlight);
    }
}
