//! The web dashboard over real HTTP on loopback: every page in every language for every role
//! (and logged out), the session cookie, CSRF on forms, the forms themselves, static assets.

use std::collections::BTreeSet;
use std::time::Duration;

use atlhyper_master::MasterConfig;
use atlhyper_master::system_clock;
use atlhyper_master::web::i18n::{Lang, Tr};
use atlhyper_model::resources::{
    Anomaly, EventSummary, InvolvedObject, Meta, ResourceKind, ResourceSnapshot, WorkloadSummary,
};
use atlhyper_model::{
    AgentSnapshot, GroupCounters, NodeMetrics, NodePoint, NodeSeries, SNAPSHOT_VERSION, Severity,
    SloCounters, SloGroupKey, SloType, Timestamp,
};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

struct Dash {
    master: Option<atlhyper_master::RunningMaster>,
    base: String,
    agentsdk: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

const CLUSTER: &str = "shop-prod";

fn edge(kind: SloType, source: &str, target: &str) -> SloGroupKey {
    SloGroupKey {
        kind,
        source: source.into(),
        source_namespace: if kind == SloType::Service {
            "shop".into()
        } else {
            String::new()
        },
        target: target.into(),
        namespace: "shop".into(),
    }
}

fn snapshot(seq: u64, end_ms: i64) -> AgentSnapshot {
    let counters = |success: f64, failure: f64| {
        let mut c = SloCounters {
            total: success + failure,
            success,
            failure,
            observations: success + failure,
            ..Default::default()
        };
        c.add_bucket(10.0, (success + failure) / 2.0);
        c.add_bucket(100.0, success + failure);
        c
    };
    let node = NodeMetrics {
        node: "node-a".into(),
        timestamp: Timestamp(end_ms),
        ..Default::default()
    };
    let points = (0..10)
        .map(|i| NodePoint {
            minute: Timestamp(end_ms - (10 - i) * 60_000),
            cpu_pct: Some(20.0 + i as f64),
            memory_pct: Some(50.0),
            ..Default::default()
        })
        .collect();
    AgentSnapshot {
        version: SNAPSHOT_VERSION,
        cluster_id: CLUSTER.into(),
        seq,
        taken_at: Timestamp(end_ms),
        slo: Vec::new(),
        slo_counters: vec![
            GroupCounters {
                key: edge(SloType::Service, "web", "api"),
                counters: counters(990.0, 10.0),
            },
            GroupCounters {
                key: edge(SloType::Ingress, "shop.example.com", "web"),
                counters: counters(500.0, 0.0),
            },
        ],
        interval_start: Timestamp(end_ms - 30_000),
        interval_end: Timestamp(end_ms),
        dropped_snapshots: 0,
        targets: Vec::new(),
        nodes: vec![node],
        node_series: vec![NodeSeries {
            node: "node-a".into(),
            points,
        }],
        resources: Some(resources(end_ms)),
    }
}

/// One degraded Deployment with its anomaly and a Warning event.
fn resources(end_ms: i64) -> ResourceSnapshot {
    let meta = Meta {
        namespace: "shop".into(),
        name: "api".into(),
        created_at: Some(Timestamp(end_ms - 86_400_000)),
    };
    let mut res = ResourceSnapshot::default();
    res.deployments.push(WorkloadSummary {
        meta: meta.clone(),
        status: "Degraded".into(),
        desired: 3,
        ready: 2,
        available: 2,
        updated: 3,
        images: vec!["shop/api:1.4.2".into()],
        ..Default::default()
    });
    res.anomalies.push(Anomaly {
        entity: "shop/deployment/api".into(),
        kind: ResourceKind::Deployment,
        reason: "DeploymentUnavailable".into(),
        since: Some(Timestamp(end_ms - 120_000)),
        evidence: "1 of 3 replicas unavailable".into(),
        severity: Severity::Warning,
    });
    res.events.push(EventSummary {
        meta: Meta {
            namespace: "shop".into(),
            name: "api.1".into(),
            created_at: None,
        },
        event_type: "Warning".into(),
        reason: "ProgressDeadlineExceeded".into(),
        message: "ReplicaSet api-7d9 has timed out progressing".into(),
        count: 3,
        involved: InvolvedObject {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "api".into(),
        },
        last_seen: Some(Timestamp(end_ms - 60_000)),
        ..Default::default()
    });
    res.summary.total_deployments = 1;
    res.summary.warning_events = 1;
    res.summary.anomalies = 1;
    res
}

/// A logged-in browser: its session cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

/// The login page as a browser first fetches it.
struct LoginForm {
    status: StatusCode,
    /// The login-CSRF cookie the form's hidden token must match.
    cookie: Option<String>,
    html: String,
}

/// An `application/x-www-form-urlencoded` body.
fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let enc = |text: &str| {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Dash {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = MasterConfig::for_tests(dir.path().to_owned());
        let master = atlhyper_master::start(config, system_clock()).await.unwrap();
        let dash = Self {
            base: format!("http://{}", master.gateway_addr),
            agentsdk: format!("http://{}", master.agentsdk_addr),
            master: Some(master),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _dir: dir,
        };
        dash.seed().await;
        dash
    }

    async fn api(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// A bearer token of the JSON API, from its login.
    async fn api_token(&self, username: &str, password: &str) -> String {
        let login: Value = self
            .http
            .post(format!("{}/api/v2/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().unwrap().to_owned()
    }

    /// A cluster with SLO counters and node history, and a viewer and an operator.
    async fn seed(&self) {
        let admin = self.api_token("admin", "admin-password").await;
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                &admin,
                "/api/v2/clusters",
                json!({"id": CLUSTER, "name": "Shop"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let agent = body["token"].as_str().unwrap().to_owned();
        for (name, role) in [("vera", "viewer"), ("otto", "operator")] {
            let (status, body) = self
                .api(
                    reqwest::Method::POST,
                    &admin,
                    "/api/v2/users",
                    json!({"username": name, "password": "password-123", "role": role}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let now = Timestamp::from_unix_seconds(
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
            )
            .unwrap(),
        );
        for seq in 1..=3u64 {
            let end = now.0 - (3 - seq as i64) * 60_000;
            let r = self
                .http
                .post(format!("{}/agent/snapshot", self.agentsdk))
                .bearer_auth(&agent)
                .header("x-cluster-id", CLUSTER)
                .json(&snapshot(seq, end))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    }

    /// The login form at `path` (`/login`, `/login?lang=zh`).
    async fn login_form(&self, path: &str) -> LoginForm {
        let form = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        LoginForm {
            status: form.status(),
            cookie: cookie_value(&set_cookies(form.headers()), "atlhyper_login_csrf"),
            html: form.text().await.unwrap(),
        }
    }

    /// Submits the login form to `path`, with the login-CSRF cookie when there is one.
    async fn post_login(
        &self,
        path: &str,
        login_cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(cookie) = login_cookie {
            request = request.header("cookie", format!("atlhyper_login_csrf={cookie}"));
        }
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(form))
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, user: &str, password: &str) -> Session {
        let form = self.login_form("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let login_cookie = form.cookie.expect("login csrf cookie");
        let csrf = hidden(&form.html, "csrf");
        assert_eq!(csrf, login_cookie);
        let r = self
            .post_login(
                "/login",
                Some(&login_cookie),
                &[
                    ("username", user),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/overview"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login as {user}");
        assert_eq!(r.headers()[LOCATION], "/overview");
        let set = set_cookies(r.headers());
        let session = set
            .iter()
            .find(|c| c.starts_with("atlhyper_session="))
            .expect("session cookie");
        assert!(
            session.contains("HttpOnly") && session.contains("SameSite=Strict"),
            "{session}"
        );
        let cookie = cookie_value(&set, "atlhyper_session").unwrap();
        let overview = self.get(Some(&cookie), "/overview").await;
        assert_eq!(overview.0, StatusCode::OK);
        Session {
            csrf: hidden(&overview.2, "csrf"),
            cookie,
        }
    }

    async fn get(&self, cookie: Option<&str>, path: &str) -> (StatusCode, HeaderMap, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("atlhyper_session={cookie}"));
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.text().await.unwrap())
    }

    async fn post(
        &self,
        session: &Session,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("atlhyper_session={}", session.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(form))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, r.text().await.unwrap())
    }
}

impl Drop for Dash {
    fn drop(&mut self) {
        if let Some(master) = self.master.take() {
            master.shutdown_token().cancel();
        }
    }
}

fn fields<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Need {
    Viewer,
    Operator,
    Admin,
}

/// Every GET page: path, the role it needs, catalog keys its body must show.
fn routes(explain: Option<&str>) -> Vec<(String, Need, Vec<&'static str>)> {
    let c = CLUSTER;
    let detail = format!(
        "/clusters/{c}/slo/detail?type=service&source=web&target=api&source_namespace=shop&namespace=shop"
    );
    let mut routes = vec![
        (
            "/overview".to_owned(),
            Need::Viewer,
            vec!["overview.active_incidents", "nav.overview"],
        ),
        (
            "/overview/live".to_owned(),
            Need::Viewer,
            vec!["overview.anomalies"],
        ),
        (
            format!("/clusters/{c}"),
            Need::Viewer,
            vec!["nodes.title", "nodes.history"],
        ),
        (format!("/clusters/{c}/live"), Need::Viewer, vec!["nodes.title"]),
        (
            format!("/clusters/{c}/slo"),
            Need::Viewer,
            vec!["slo.tab_ingress", "slo.tab_service", "slo.domain"],
        ),
        (
            format!("/clusters/{c}/slo?tab=service&range=24h"),
            Need::Viewer,
            vec!["slo.source", "slo.budget"],
        ),
        (
            format!("/clusters/{c}/slo/table?tab=service"),
            Need::Viewer,
            vec!["slo.success_rate"],
        ),
        (
            detail.clone(),
            Need::Viewer,
            vec!["detail.burn_rates", "detail.rules"],
        ),
        (
            format!("{detail}&range=30d"),
            Need::Viewer,
            vec!["detail.burn_rates"],
        ),
        (
            format!("/clusters/{c}/topology"),
            Need::Viewer,
            vec!["topology.edges", "topology.hint"],
        ),
        (
            format!("/clusters/{c}/settings"),
            Need::Operator,
            vec!["settings.set_target", "settings.targets"],
        ),
        (
            "/admin/users".to_owned(),
            Need::Admin,
            vec!["users.create", "users.change_role"],
        ),
        (
            "/admin/audit".to_owned(),
            Need::Admin,
            vec!["audit.actor", "audit.result"],
        ),
        (
            format!("/aiops?cluster={c}"),
            Need::Viewer,
            vec!["aiops.cluster_risk", "aiops.statistics"],
        ),
        (
            format!("/clusters/{c}/resources"),
            Need::Viewer,
            vec!["resources.all_kinds", "resources.nodes_ready"],
        ),
        (
            format!("/clusters/{c}/resources?kind=Deployment&namespace=shop&q=api"),
            Need::Viewer,
            vec!["resources.kind", "resources.info"],
        ),
        (
            format!("/clusters/{c}/resources/Deployment/shop/api"),
            Need::Viewer,
            vec!["resources.fields", "events.heading", "anomalies.heading"],
        ),
        (
            format!("/clusters/{c}/events?type=Warning"),
            Need::Viewer,
            vec!["events.heading", "events.object"],
        ),
        (
            format!("/clusters/{c}/anomalies"),
            Need::Viewer,
            vec!["anomalies.heading", "anomalies.evidence"],
        ),
        (
            format!("/clusters/{c}/commands"),
            Need::Operator,
            vec!["commands.history"],
        ),
        (
            "/aiops/incidents".to_owned(),
            Need::Viewer,
            vec!["aiops.mttr", "aiops.by_severity"],
        ),
    ];
    if let Some(entity) = explain {
        routes.push((
            format!("/aiops/explain?cluster={c}&entity={}", entity.replace('/', "%2F")),
            Need::Viewer,
            vec!["aiops.formula", "aiops.path_to_root"],
        ));
    }
    routes
}

fn escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_every_language_for_every_role() {
    let dash = Dash::start().await;
    let sessions = [
        (Need::Viewer, dash.login("vera", "password-123").await),
        (Need::Operator, dash.login("otto", "password-123").await),
        (Need::Admin, dash.login("admin", "admin-password").await),
    ];
    // An entity the AIOps engine knows after the pushes, for the explanation page.
    let graph: Value = {
        let token = dash.api_token("vera", "password-123").await;
        dash.api(
            reqwest::Method::GET,
            &token,
            &format!("/api/v2/aiops/graph?cluster={CLUSTER}"),
            Value::Null,
        )
        .await
        .1
    };
    let entity = graph["nodes"][0]["key"].as_str().map(str::to_owned);
    let routes = routes(entity.as_deref());
    let mut checked = 0;
    for (path, need, keys) in &routes {
        // Logged out: pages redirect to the login form, htmx fragments get 401 + HX-Redirect.
        let (status, headers, _) = dash.get(None, path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path} logged out");
        let location = headers[LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login?next=/"), "{path}: {location}");
        for lang in Lang::ALL {
            let t = Tr::new(lang);
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("{path}{sep}lang={}", lang.code());
            for (role, session) in &sessions {
                let (status, headers, body) = dash.get(Some(&session.cookie), &url).await;
                if role < need {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{url} as a lower role");
                    assert!(body.contains(&escape(t.get("error.forbidden"))), "{url}: {body}");
                    continue;
                }
                assert_eq!(status, StatusCode::OK, "{url}: {body}");
                for key in keys {
                    assert!(
                        body.contains(&escape(t.get(key))),
                        "{url} shows {key} ({:?})",
                        t.get(key)
                    );
                }
                if !path.contains("/live") && !path.contains("/table") {
                    assert!(
                        body.contains(&format!("<html lang=\"{}\"", lang.html_lang())),
                        "{url}"
                    );
                    assert!(
                        headers["content-security-policy"]
                            .to_str()
                            .unwrap()
                            .contains("script-src 'self'"),
                        "{url}"
                    );
                    assert!(!body.contains("<script>"), "{url} has no inline script");
                }
                assert_eq!(headers["cache-control"], "no-store", "{url}");
                let chosen = set_cookies(&headers);
                assert!(
                    chosen
                        .iter()
                        .any(|c| c.starts_with(&format!("atlhyper_lang={}", lang.code()))),
                    "{url}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= routes.len() * 6, "{checked} page loads checked");

    // Fragments for htmx, logged out: 401 and a redirect htmx follows.
    let r = dash
        .http
        .get(format!("{}/overview/live", dash.base))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["hx-redirect"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );

    // The language without ?lang=: the cookie, then Accept-Language.
    let admin = &sessions[2].1;
    let r = dash
        .http
        .get(format!("{}/overview", dash.base))
        .header("cookie", format!("atlhyper_session={}", admin.cookie))
        .header("accept-language", "ja-JP,ja;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("<html lang=\"ja\""));
    let r = dash
        .http
        .get(format!("{}/overview", dash.base))
        .header(
            "cookie",
            format!("atlhyper_session={}; atlhyper_lang=zh", admin.cookie),
        )
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("<html lang=\"zh-CN\""));

    // The detail page carries chart data: six charts, the latency one with points.
    let (_, _, body) = dash
        .get(
            Some(&admin.cookie),
            &format!("/clusters/{CLUSTER}/slo/detail?type=service&source=web&target=api&source_namespace=shop&namespace=shop"),
        )
        .await;
    let start = body.find("id=\"page-data\">").unwrap() + "id=\"page-data\">".len();
    let data: Value =
        serde_json::from_str(&body[start..start + body[start..].find("</script>").unwrap()]).unwrap();
    let charts = data["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 6, "{data}");
    let latency = charts.iter().find(|c| c["el"] == "chart-latency").unwrap();
    assert!(
        latency["series"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| !p[1].is_null()),
        "{latency}"
    );
    // The node history: a CPU chart with a series for node-a.
    let (_, _, body) = dash
        .get(Some(&admin.cookie), &format!("/clusters/{CLUSTER}"))
        .await;
    assert!(
        body.contains("node-a") && body.contains("\"el\":\"chart-cpu\""),
        "{body}"
    );

    // Unknown things are 404 pages, in the language asked for.
    let (status, _, body) = dash.get(Some(&admin.cookie), "/clusters/nope/slo?lang=ja").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(Tr::new(Lang::Ja).get("error.not_found")));
    let (status, _, _) = dash.get(Some(&admin.cookie), "/aiops/incidents/inc-0-0").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_session_csrf_token_and_the_role() {
    let dash = Dash::start().await;
    let viewer = dash.login("vera", "password-123").await;
    let operator = dash.login("otto", "password-123").await;
    let admin = dash.login("admin", "admin-password").await;
    let settings = format!("/clusters/{CLUSTER}/settings");
    let target = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("kind", "service".to_owned()),
            ("source", "web".to_owned()),
            ("target", "api".to_owned()),
            ("availability", "99.5".to_owned()),
            ("latency_p95_ms", "250".to_owned()),
            ("period_days", "7".to_owned()),
        ]
    };

    // No or a wrong token: refused, nothing saved.
    for csrf in ["", "00000000000000000000000000000000", &viewer.csrf] {
        let (status, _, body) = dash.post(&operator, &settings, &fields(&target(csrf))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "csrf {csrf:?}: {body}");
    }
    // The viewer's own token, but the viewer lacks the role.
    let (status, _, _) = dash
        .post(&viewer, &settings, &fields(&target(&viewer.csrf)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The operator with its token: saved, shown, audited.
    let (status, location, _) = dash
        .post(&operator, &settings, &fields(&target(&operator.csrf)))
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, format!("{settings}?ok=1").as_str())
    );
    let (_, _, body) = dash
        .get(Some(&operator.cookie), &format!("{settings}?ok=1"))
        .await;
    assert!(
        body.contains("99.5%") && body.contains("250 ms") && body.contains("otto"),
        "{body}"
    );
    // A bad value comes back as an error on the page.
    let mut bad = target(&operator.csrf);
    bad[4].1 = "100".into();
    let (status, location, _) = dash.post(&operator, &settings, &fields(&bad)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.contains("error="), "{location}");

    // Users: the operator cannot create one; the admin can, change its role, and delete it
    // after typing its name.
    let new_user = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("username", "nina".into()),
            ("password", "password-456".into()),
            ("role", "viewer".into()),
        ]
    };
    let (status, _, _) = dash
        .post(&operator, "/admin/users", &fields(&new_user(&operator.csrf)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, location, _) = dash
        .post(&admin, "/admin/users", &fields(&new_user(&admin.csrf)))
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/users?ok=1")
    );
    let (status, location, _) = dash
        .post(
            &admin,
            "/admin/users/nina/role",
            &[("csrf", &admin.csrf), ("role", "operator")],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/users?ok=1")
    );
    let nina = dash.login("nina", "password-456").await;
    let (status, _, _) = dash.get(Some(&nina.cookie), &settings).await;
    assert_eq!(status, StatusCode::OK, "nina is an operator now");
    let (_, location, _) = dash
        .post(
            &admin,
            "/admin/users/nina/delete",
            &[("csrf", &admin.csrf), ("confirm", "nin")],
        )
        .await;
    assert!(
        location.contains("error="),
        "a wrong confirmation deletes nothing: {location}"
    );
    let (_, location, _) = dash
        .post(
            &admin,
            "/admin/users/nina/delete",
            &[("csrf", &admin.csrf), ("confirm", "nina")],
        )
        .await;
    assert_eq!(location, "/admin/users?ok=1");
    let (status, headers, _) = dash.get(Some(&nina.cookie), "/overview").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a deleted user's session ends");
    assert!(headers[LOCATION].to_str().unwrap().starts_with("/login"));

    // The audit log shows what the forms did.
    let (_, _, body) = dash
        .get(Some(&admin.cookie), "/admin/audit?action=slo.target.update")
        .await;
    assert!(
        body.contains("otto") && body.contains("denied") && body.contains("ok"),
        "{body}"
    );

    // Login: a wrong password, a missing form token.
    let login_cookie = dash.login_form("/login?lang=zh").await.cookie.unwrap();
    let r = dash
        .post_login(
            "/login?lang=zh",
            Some(&login_cookie),
            &[
                ("username", "admin"),
                ("password", "wrong"),
                ("csrf", login_cookie.as_str()),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(Tr::new(Lang::Zh).get("login.wrong"))
    );
    let r = dash
        .post_login(
            "/login",
            None,
            &[
                ("username", "admin"),
                ("password", "admin-password"),
                ("csrf", "x"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no login token cookie, no login"
    );
    // A redirect target off this site is ignored.
    let login_cookie = dash.login_form("/login").await.cookie.unwrap();
    let r = dash
        .post_login(
            "/login",
            Some(&login_cookie),
            &[
                ("username", "admin"),
                ("password", "admin-password"),
                ("csrf", login_cookie.as_str()),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.headers()[LOCATION], "/overview");

    // Logout needs the token, clears the cookie.
    let (status, _, _) = dash.post(&admin, "/logout", &[("csrf", "nope")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = dash
        .http
        .post(format!("{}/logout", dash.base))
        .header("cookie", format!("atlhyper_session={}", admin.cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("csrf", admin.csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookies(r.headers())
            .iter()
            .any(|c| c.starts_with("atlhyper_session=;") && c.contains("Max-Age=0"))
    );

    // The JSON API never takes the cookie.
    let r = dash
        .http
        .get(format!("{}/api/v2/clusters", dash.base))
        .header("cookie", format!("atlhyper_session={}", operator.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asset_a_page_links_is_served_and_cached() {
    let dash = Dash::start().await;
    let admin = dash.login("admin", "admin-password").await;
    let mut links = BTreeSet::new();
    for path in [
        "/overview".to_owned(),
        format!("/clusters/{CLUSTER}?lang=ja"),
        format!("/clusters/{CLUSTER}/topology"),
        "/login".to_owned(),
    ] {
        let cookie = if path == "/login" {
            None
        } else {
            Some(admin.cookie.as_str())
        };
        let (_, _, body) = dash.get(cookie, &path).await;
        for attr in ["src=\"", "href=\""] {
            for (i, _) in body.match_indices(attr) {
                let rest = &body[i + attr.len()..];
                let link = &rest[..rest.find('"').unwrap()];
                if link.starts_with("/static/") {
                    links.insert(link.replace("&#38;", "&"));
                }
            }
        }
    }
    for must in [
        "app.css",
        "app.js",
        "htmx-2.0.11",
        "echarts-6.1.0.common",
        "echarts-6.1.0-langJA",
        "cytoscape-3.34.4",
    ] {
        assert!(
            links.iter().any(|l| l.contains(must)),
            "{must} is linked: {links:?}"
        );
    }
    for link in &links {
        let r = dash
            .http
            .get(format!("{}{link}", dash.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{link}");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable"),
            "{link}"
        );
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert!(!r.bytes().await.unwrap().is_empty());
        let again = dash
            .http
            .get(format!("{}{link}", dash.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{link}");
    }
    let r = dash
        .http
        .get(format!("{}/static/../Cargo.toml", dash.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for license in [
        "echarts-LICENSE.txt",
        "echarts-NOTICE.txt",
        "cytoscape-LICENSE.txt",
        "htmx-LICENSE.txt",
    ] {
        let r = dash
            .http
            .get(format!("{}/static/vendor/{license}", dash.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{license}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_ask_for_confirmation_and_land_in_the_history() {
    let dash = Dash::start().await;
    let viewer = dash.login("vera", "password-123").await;
    let operator = dash.login("otto", "password-123").await;
    let detail = format!("/clusters/{CLUSTER}/resources/Deployment/shop/api");
    let t = Tr::new(Lang::En);
    // Viewers see the object but no operation; operators see the forms.
    let (_, _, body) = dash.get(Some(&viewer.cookie), &detail).await;
    assert!(
        body.contains("shop/api:1.4.2")
            && body.contains("DeploymentUnavailable")
            && body.contains("ProgressDeadlineExceeded")
    );
    assert!(!body.contains(t.get("ops.title")), "no operations for a viewer");
    let (_, _, body) = dash.get(Some(&operator.cookie), &detail).await;
    for action in ["restart", "scale", "update_image", "get"] {
        assert!(
            body.contains(&format!("data-action=\"{action}\"")),
            "{action} offered"
        );
    }
    assert!(!body.contains("data-action=\"cordon\""), "cordon is for nodes");

    let operate = format!("/clusters/{CLUSTER}/operate");
    let form = |csrf: &str, step: &str, replicas: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("action", "scale".to_owned()),
            ("kind", "Deployment".to_owned()),
            ("namespace", "shop".to_owned()),
            ("name", "api".to_owned()),
            ("replicas", replicas.to_owned()),
            ("step", step.to_owned()),
        ]
    };
    // Refused: a viewer, a wrong token.
    let (status, _, _) = dash
        .post(&viewer, &operate, &fields(&form(&viewer.csrf, "review", "4")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = dash
        .post(&operator, &operate, &fields(&form("bad", "confirm", "4")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Step one: the confirmation page, nothing queued yet.
    let (status, _, body) = dash
        .post(&operator, &operate, &fields(&form(&operator.csrf, "review", "4")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(t.get("ops.confirm_heading")) && body.contains("{&#34;replicas&#34;:4}"),
        "{body}"
    );
    assert!(body.contains("name=\"step\" value=\"confirm\""));
    let (_, _, history) = dash
        .get(Some(&operator.cookie), &format!("/clusters/{CLUSTER}/commands"))
        .await;
    assert!(
        history.contains(t.get("commands.none")),
        "nothing queued by the review step"
    );
    // Step two: queued, shown in the history, audited.
    let (status, location, _) = dash
        .post(
            &operator,
            &operate,
            &fields(&form(&operator.csrf, "confirm", "4")),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with(&format!("/clusters/{CLUSTER}/commands?queued=")),
        "{location}"
    );
    let (status, _, history) = dash.get(Some(&operator.cookie), &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        history.contains("scale") && history.contains("Deployment/shop/api") && history.contains("pending"),
        "{history}"
    );
    assert!(
        history.contains("class=\"highlight\""),
        "the new command is marked"
    );
    let (status, _, _) = dash
        .get(
            Some(&viewer.cookie),
            &format!("/clusters/{CLUSTER}/commands/live"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers see no command");
    // A bad parameter comes back as the API's error.
    let (_, location, _) = dash
        .post(
            &operator,
            &operate,
            &fields(&form(&operator.csrf, "confirm", "lots")),
        )
        .await;
    assert!(location.contains("error="), "{location}");
    let (_, location, _) = dash
        .post(
            &operator,
            &operate,
            &fields(&form(&operator.csrf, "confirm", "-1")),
        )
        .await;
    assert!(location.contains("error="), "{location}");
    let admin = dash.login("admin", "admin-password").await;
    let (_, _, audit) = dash
        .get(Some(&admin.cookie), "/admin/audit?action=command.scale")
        .await;
    assert!(
        audit.contains("otto") && audit.contains("vera") && audit.contains("denied"),
        "{audit}"
    );
}
