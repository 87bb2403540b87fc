//! The dashboard in a real browser: Debian's `chromium`, driven through `chromedriver` over
//! the W3C WebDriver protocol (plain HTTP with reqwest), against `atlhyper demo` on loopback.
//! Logs in, opens the SLO dashboard, switches tab and language, opens a detail page and
//! checks that its charts were drawn with data; the topology and the node charts too. Saves
//! screenshots under `target/e2e-screenshots/`.
//!
//! Without chromium or chromedriver the test fails when `CI=true` and is skipped (with a
//! message) otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_demo(data_dir: &Path) -> (Killed, String, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlhyper"))
        .args([
            "demo",
            "--gateway-port",
            "0",
            "--agentsdk-port",
            "0",
            "--history-minutes",
            "15",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MASTER_ADMIN_USERNAME")
        .env_remove("MASTER_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start atlhyper demo");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while !seen.iter().any(|l| l.starts_with("press Ctrl-C")) {
        let left = Duration::from_secs(120).saturating_sub(started.elapsed());
        seen.push(
            lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("demo not ready within 120 s ({e}): {seen:#?}")),
        );
    }
    let field = |label: &str| {
        seen.iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} line in {seen:#?}"))
    };
    let gateway = field("dashboard and API");
    let login = field("login ");
    let (user, password) = login.split_once(" / ").expect("user / password");
    (child, gateway, user.trim().to_owned(), password.trim().to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tiny W3C WebDriver client.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {method} {path}: {status} {value}");
        value["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Polls `script` until it returns true, for at most 30 s.
    async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let url = self.url().await;
                let text = self
                    .js("return document.body ? document.body.innerText.slice(0, 1500) : ''")
                    .await;
                panic!("timed out waiting for {what} on {url}: {text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, dir: &Path, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64_decode(data.as_str().expect("base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        std::fs::write(dir.join(name), png).unwrap();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the browser is here; without it the test fails in CI and is skipped elsewhere.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "web_e2e: {} not installed; install the Debian packages chromium chromium-driver fonts-noto-cjk \
         (scripts/test does)",
        missing.join(" and ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("{message}; skipping the browser test outside CI");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium_login_slo_tabs_language_detail_charts_topology() {
    if !browser_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (_demo, gateway, user, password) = start_demo(&data.path().join("demo"));
    let port = free_port();
    let _driver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let driver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = match http.get(format!("{driver}/status")).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .is_some_and(|v| v["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver not ready within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = data.path().join("chromium-profile");
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1440,960",
        "--lang=en-US",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(std::iter::once(format!("--user-data-dir={}", profile.display())))
    .collect::<Vec<_>>();
    let session: Value = http
        .post(format!("{driver}/session"))
        .json(&json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        }}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no webdriver session: {session}"))
        .to_owned();
    let browser = Browser {
        http: http.clone(),
        base: format!("{driver}/session/{id}"),
    };
    let shots = screenshots_dir();

    // Logged out: any page leads to the login form.
    browser.go(&format!("{gateway}/overview")).await;
    browser
        .wait_for("the login form", "return !!document.getElementById('login-form')")
        .await;
    assert!(
        browser.url().await.contains("/login?next=/overview"),
        "{}",
        browser.url().await
    );
    browser.screenshot(&shots, "01-login.png").await;
    browser.type_into("#username", &user).await;
    browser.type_into("#password", &password).await;
    browser.click("#login-submit").await;
    browser
        .wait_for("the overview", "return location.pathname === '/overview' && document.querySelectorAll('.cluster-card').length === 2")
        .await;
    let cookie_visible = browser
        .js("return document.cookie.includes('atlhyper_session')")
        .await;
    assert_eq!(
        cookie_visible,
        Value::Bool(false),
        "the session cookie is HttpOnly"
    );
    browser.screenshot(&shots, "02-overview.png").await;
    let cluster = browser
        .js("return document.querySelector('.cluster-card').getAttribute('data-cluster')")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // The SLO dashboard: ingress tab, then service-to-service.
    browser.go(&format!("{gateway}/clusters/{cluster}/slo")).await;
    browser
        .wait_for(
            "the ingress table",
            "return document.querySelector('#slo-table[data-tab=ingress] tbody tr') !== null",
        )
        .await;
    browser.screenshot(&shots, "03-slo-ingress.png").await;
    browser.click("#tab-service").await;
    browser
        .wait_for(
            "the service table",
            "return document.querySelectorAll('#slo-table[data-tab=service] tbody tr').length >= 8",
        )
        .await;
    let header = browser
        .js("return document.querySelector('#slo-table thead').innerText")
        .await;
    assert!(header.as_str().unwrap().contains("Source"), "{header}");
    browser.screenshot(&shots, "04-slo-service.png").await;

    // Switch to Japanese: the same tab, translated.
    browser.click("[data-lang-switch=ja]").await;
    browser
        .wait_for("the Japanese page", "return document.documentElement.lang === 'ja' && document.querySelector('#slo-table[data-tab=service]') !== null")
        .await;
    let text = browser.js("return document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("サービス間 SLO") && text.contains("送信元") && text.contains("成功率"),
        "{text}"
    );
    browser.screenshot(&shots, "05-slo-service-ja.png").await;

    // A detail page: six charts drawn on canvases, with data.
    browser.click("#slo-table tbody tr a.detail-link").await;
    browser
        .wait_for(
            "the detail charts",
            "return location.pathname.endsWith('/slo/detail') && \
             document.querySelectorAll('.chart[data-chart-ready=\"1\"] canvas').length === 6",
        )
        .await;
    let charts = browser
        .js("return JSON.parse(document.getElementById('page-data').textContent).charts.map(c => [c.el, c.series.reduce((n, s) => n + s.data.filter(p => Array.isArray(p) ? p[1] !== null : p !== null).length, 0)])")
        .await;
    let charts = charts.as_array().unwrap();
    assert_eq!(charts.len(), 6, "{charts:?}");
    for chart in charts {
        assert!(chart[1].as_u64().unwrap() > 0, "chart {chart} has data");
    }
    let latency_points = browser
        .js("return +document.getElementById('chart-latency').getAttribute('data-points')")
        .await;
    assert!(latency_points.as_f64().unwrap() > 0.0);
    browser.screenshot(&shots, "06-slo-detail-ja.png").await;
    // Another range of the same entry.
    browser.click("#detail-ranges a:nth-child(2)").await;
    browser
        .wait_for("the 24h detail", "return location.search.includes('range=24h') && document.querySelectorAll('.chart[data-chart-ready=\"1\"]').length === 6")
        .await;

    // Chinese, the mesh topology: services as nodes, calls as edges.
    browser
        .go(&format!("{gateway}/clusters/{cluster}/topology?lang=zh"))
        .await;
    browser
        .wait_for(
            "the topology graph",
            "return document.getElementById('topology').getAttribute('data-graph-ready') === '1'",
        )
        .await;
    let (nodes, edges) = (
        browser
            .js("return +document.getElementById('topology').getAttribute('data-nodes')")
            .await,
        browser
            .js("return +document.getElementById('topology').getAttribute('data-edges')")
            .await,
    );
    assert!(
        nodes.as_f64().unwrap() >= 4.0 && edges.as_f64().unwrap() >= 4.0,
        "{nodes} nodes, {edges} edges"
    );
    assert_eq!(browser.js("return document.documentElement.lang").await, "zh-CN");
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#topology canvas').length > 0")
            .await,
        true
    );
    browser.screenshot(&shots, "07-topology-zh.png").await;

    // The cluster page: node charts from the node rings.
    browser.go(&format!("{gateway}/clusters/{cluster}?lang=en")).await;
    browser
        .wait_for("the node charts", "return document.querySelectorAll('.chart[data-chart-ready=\"1\"] canvas').length === 7 && document.querySelectorAll('#nodes-table tbody tr').length > 0")
        .await;
    browser.screenshot(&shots, "08-cluster-nodes.png").await;

    // Resources: the Deployments, one of them, and the confirmation step of an operation
    // (cancelled: nothing is queued).
    browser
        .go(&format!("{gateway}/clusters/{cluster}/resources?kind=Deployment"))
        .await;
    browser
        .wait_for(
            "the deployments",
            "return document.querySelectorAll('#resources-table tbody tr').length >= 3",
        )
        .await;
    browser.screenshot(&shots, "09-resources.png").await;
    browser.click("#resources-table tbody tr a.resource-link").await;
    browser
        .wait_for(
            "a deployment's detail",
            "return document.querySelector('button[data-action=restart]') !== null",
        )
        .await;
    browser.screenshot(&shots, "10-resource-detail.png").await;
    browser.click("button[data-action=restart]").await;
    browser
        .wait_for(
            "the confirmation",
            "return document.getElementById('confirm-form') !== null",
        )
        .await;
    browser.screenshot(&shots, "11-confirm.png").await;
    browser.click("#confirm-form a.button").await;
    browser
        .wait_for(
            "the detail again",
            "return document.querySelector('button[data-action=restart]') !== null",
        )
        .await;
    browser.go(&format!("{gateway}/clusters/{cluster}/events")).await;
    browser
        .wait_for(
            "the events",
            "return document.querySelector('.content .card') !== null",
        )
        .await;

    // AIOps and the audit log render for the admin.
    browser.go(&format!("{gateway}/aiops?cluster={cluster}")).await;
    browser
        .wait_for(
            "the risk page",
            "return document.querySelector('.risk-gauge') !== null",
        )
        .await;
    browser.screenshot(&shots, "12-aiops-risk.png").await;
    browser.go(&format!("{gateway}/admin/audit")).await;
    browser
        .wait_for(
            "the audit log",
            "return document.querySelectorAll('#audit-table tbody tr').length > 0",
        )
        .await;
    browser.screenshot(&shots, "13-audit.png").await;

    // Logging out ends the session.
    browser.click("form[action='/logout'] button").await;
    browser
        .wait_for("the login page", "return location.pathname === '/login'")
        .await;
    browser.go(&format!("{gateway}/admin/users")).await;
    browser
        .wait_for("the login page again", "return location.pathname === '/login'")
        .await;

    let _ = http.delete(format!("{driver}/session/{id}")).send().await;
}
