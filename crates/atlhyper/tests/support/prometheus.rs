//! A real Prometheus on loopback as a test oracle: backfill an OpenMetrics file with
//! `promtool tsdb create-blocks-from openmetrics`, start `prometheus` on a free port of
//! 127.0.0.1, query its HTTP API with a hand-written HTTP/1.1 client, kill it on drop.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One element of an instant vector.
#[derive(Clone, Debug)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// The value; `NaN` stays `NaN`.
    pub value: f64,
}

/// Fails with a message telling how to install the tools when `promtool` or `prometheus`
/// is not on `PATH`.
pub fn require_tools() -> Result<()> {
    for tool in ["promtool", "prometheus"] {
        if find_on_path(tool).is_none() {
            bail!(
                "`{tool}` not found on PATH: the oracle tests need a real Prometheus; \
                 run `scripts/test` (it installs the Debian package `prometheus`) \
                 or `apt-get install prometheus`"
            );
        }
    }
    Ok(())
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// A running Prometheus serving backfilled data; killed on drop.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Backfills `openmetrics` into a fresh TSDB and starts Prometheus on it.
    pub fn start(openmetrics: &str) -> Result<Self> {
        require_tools()?;
        let dir = tempfile::tempdir().context("creating the prometheus temp dir")?;
        let input = dir.path().join("backfill.om");
        let data = dir.path().join("data");
        std::fs::write(&input, openmetrics).context("writing the openmetrics backfill")?;
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .context("running promtool")?;
        if !out.status.success() {
            bail!(
                "promtool tsdb create-blocks-from openmetrics failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n",
        )
        .context("writing prometheus.yml")?;

        let mut last_err = anyhow!("prometheus did not start");
        for attempt in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let log = dir.path().join(format!("prometheus-{attempt}.log"));
            let log_file = File::create(&log).context("creating the prometheus log")?;
            let mut child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--storage.tsdb.retention.time=100y")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file)
                .spawn()
                .context("starting prometheus")?;
            match wait_ready(&mut child, addr, &log) {
                Ok(()) => {
                    return Ok(Prometheus {
                        child,
                        addr,
                        log,
                        _dir: dir,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // Another process took the port between our probe and Prometheus' bind.
                    if !log_tail(&log).contains("address already in use") {
                        return Err(e);
                    }
                    last_err = e;
                }
            }
        }
        Err(last_err.context("the port was taken on every attempt"))
    }

    /// The last lines of Prometheus' log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Runs an instant query at `time` (unix seconds) and returns the vector.
    pub fn query(&self, promql: &str, time: u64) -> Result<Vec<Sample>> {
        let path = format!("/api/v1/query?query={}&time={time}", percent_encode(promql));
        let (status, body) = http_get(self.addr, &path).with_context(|| format!("querying {promql}"))?;
        let json: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("prometheus answered {status} with non-JSON: {body}"))?;
        if status != 200 || json["status"] != "success" {
            bail!("query failed ({status}): {promql}\n{body}");
        }
        if json["data"]["resultType"] != "vector" {
            bail!(
                "expected a vector for {promql}, got {}",
                json["data"]["resultType"]
            );
        }
        let result = json["data"]["result"]
            .as_array()
            .ok_or_else(|| anyhow!("no result in {body}"))?;
        result
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .ok_or_else(|| anyhow!("no metric in {r}"))?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let text = r["value"][1].as_str().ok_or_else(|| anyhow!("no value in {r}"))?;
                let value = parse_prom_float(text).ok_or_else(|| anyhow!("bad value {text:?}"))?;
                Ok(Sample { labels, value })
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `/-/ready` every 100 ms until it answers 200, the process exits, or 30 s pass.
fn wait_ready(child: &mut Child, addr: SocketAddr, log: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "prometheus exited during startup ({status}); log:\n{}",
                log_tail(log)
            );
        }
        if let Ok((200, _)) = http_get(addr, "/-/ready") {
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            bail!(
                "prometheus on {addr} not ready after {READY_TIMEOUT:?}; log:\n{}",
                log_tail(log)
            );
        }
        std::thread::sleep(POLL);
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Parses a Prometheus API float string (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_prom_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, drop the listener).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A minimal HTTP/1.1 GET with `Connection: close`; returns the status and the body.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in the response from {addr}"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok((
        status,
        String::from_utf8(body).context("response body is not UTF-8")?,
    ))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk header"))?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}
