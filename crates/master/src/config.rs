//! The master's configuration, from the environment of the seed README plus a data directory
//! and retention settings. It is read through a lookup function so tests pass a map instead of
//! touching the process environment.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const ENV_ADMIN_USERNAME: &str = "MASTER_ADMIN_USERNAME";
pub const ENV_ADMIN_PASSWORD: &str = "MASTER_ADMIN_PASSWORD";
pub const ENV_JWT_SECRET: &str = "MASTER_JWT_SECRET";
pub const ENV_GATEWAY_PORT: &str = "MASTER_GATEWAY_PORT";
pub const ENV_AGENTSDK_PORT: &str = "MASTER_AGENTSDK_PORT";
pub const ENV_LOG_LEVEL: &str = "MASTER_LOG_LEVEL";
pub const ENV_DATA_DIR: &str = "MASTER_DATA_DIR";
pub const ENV_BIND: &str = "MASTER_BIND_ADDRESS";
pub const ENV_TOKEN_TTL: &str = "MASTER_TOKEN_TTL";
pub const ENV_RAW_RETENTION: &str = "MASTER_SLO_RAW_RETENTION";
pub const ENV_HOURLY_RETENTION: &str = "MASTER_SLO_HOURLY_RETENTION";
pub const ENV_SNAPSHOT_MAX_BYTES: &str = "MASTER_SNAPSHOT_MAX_BYTES";
pub const ENV_OFFLINE_AFTER: &str = "MASTER_AGENT_OFFLINE_AFTER";

/// The shortest JWT secret accepted: 32 bytes, the HS256 key size.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A value that must never reach logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub admin_username: String,
    pub admin_password: Secret,
    pub jwt_secret: Secret,
    pub bind: IpAddr,
    pub gateway_port: u16,
    pub agentsdk_port: u16,
    pub log_level: String,
    pub data_dir: PathBuf,
    /// Lifetime of a login token.
    pub token_ttl: Duration,
    /// How long raw SLO minutes and hourly rollups are kept.
    pub raw_retention: Duration,
    pub hourly_retention: Duration,
    /// The largest decompressed snapshot accepted.
    pub snapshot_max_bytes: usize,
    /// An agent without a heartbeat or snapshot for this long is offline.
    pub offline_after: Duration,
}

impl MasterConfig {
    /// Reads the configuration; `lookup` is `std::env::var(..).ok()` in production.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let jwt_secret = required(ENV_JWT_SECRET)?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: ENV_JWT_SECRET,
                message: format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes, got {}",
                    jwt_secret.len()
                ),
            });
        }
        let admin_password = required(ENV_ADMIN_PASSWORD)?;
        if admin_password.len() < 8 {
            return Err(ConfigError::Invalid {
                name: ENV_ADMIN_PASSWORD,
                message: "must be at least 8 characters".into(),
            });
        }
        Ok(Self {
            admin_username: required(ENV_ADMIN_USERNAME)?,
            admin_password: Secret::new(admin_password),
            jwt_secret: Secret::new(jwt_secret),
            bind: parse_or(get(ENV_BIND), ENV_BIND, IpAddr::from([0, 0, 0, 0]), |v| {
                v.parse().map_err(|_| "expected an IP address".into())
            })?,
            gateway_port: parse_or(get(ENV_GATEWAY_PORT), ENV_GATEWAY_PORT, 8080, parse_port)?,
            agentsdk_port: parse_or(get(ENV_AGENTSDK_PORT), ENV_AGENTSDK_PORT, 8081, parse_port)?,
            log_level: get(ENV_LOG_LEVEL).unwrap_or_else(|| "info".to_owned()),
            data_dir: get(ENV_DATA_DIR).map_or_else(|| PathBuf::from("data"), PathBuf::from),
            token_ttl: parse_or(
                get(ENV_TOKEN_TTL),
                ENV_TOKEN_TTL,
                Duration::from_secs(12 * 3600),
                parse_duration,
            )?,
            raw_retention: parse_or(
                get(ENV_RAW_RETENTION),
                ENV_RAW_RETENTION,
                Duration::from_secs(48 * 3600),
                parse_duration,
            )?,
            hourly_retention: parse_or(
                get(ENV_HOURLY_RETENTION),
                ENV_HOURLY_RETENTION,
                Duration::from_secs(90 * 86_400),
                parse_duration,
            )?,
            snapshot_max_bytes: parse_or(
                get(ENV_SNAPSHOT_MAX_BYTES),
                ENV_SNAPSHOT_MAX_BYTES,
                32 << 20,
                |v| {
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1024)
                        .ok_or_else(|| "expected a number of bytes, at least 1024".into())
                },
            )?,
            offline_after: parse_or(
                get(ENV_OFFLINE_AFTER),
                ENV_OFFLINE_AFTER,
                Duration::from_secs(60),
                parse_duration,
            )?,
        })
    }

    /// A configuration for tests and the demo: loopback, port 0 (any free port), given data dir.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            admin_username: "admin".into(),
            admin_password: Secret::new("admin-password"),
            jwt_secret: Secret::new("test-secret-test-secret-test-secret-0123"),
            bind: IpAddr::from([127, 0, 0, 1]),
            gateway_port: 0,
            agentsdk_port: 0,
            log_level: "warn".into(),
            data_dir,
            token_ttl: Duration::from_secs(3600),
            raw_retention: Duration::from_secs(48 * 3600),
            hourly_retention: Duration::from_secs(90 * 86_400),
            snapshot_max_bytes: 8 << 20,
            offline_after: Duration::from_secs(60),
        }
    }
}

fn parse_or<T>(
    value: Option<String>,
    name: &'static str,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse(&v).map_err(|message| ConfigError::Invalid {
            name,
            message: format!("{message}, got {v:?}"),
        }),
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .map_err(|_| "expected a port number from 0 to 65535".into())
}

/// `90s`, `15m`, `48h`, `90d`, or a number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a duration such as 90s, 15m, 48h or 90d".to_owned())?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("expected a duration such as 90s, 15m, 48h or 90d".into()),
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| "duration out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<MasterConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MasterConfig::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        (ENV_ADMIN_USERNAME, "admin"),
        (ENV_ADMIN_PASSWORD, "a-long-password"),
        (ENV_JWT_SECRET, "0123456789abcdef0123456789abcdef"),
    ];

    #[test]
    fn defaults_from_the_seed() {
        let c = config(&BASE).unwrap();
        assert_eq!(
            (c.gateway_port, c.agentsdk_port, c.log_level.as_str()),
            (8080, 8081, "info")
        );
        assert_eq!(c.raw_retention, Duration::from_secs(48 * 3600));
        assert_eq!(format!("{:?}", c.jwt_secret), "***");
        assert!(!format!("{c:?}").contains("a-long-password"));
    }

    #[test]
    fn refuses_to_start_and_names_the_variable() {
        for missing in [ENV_ADMIN_USERNAME, ENV_ADMIN_PASSWORD, ENV_JWT_SECRET] {
            let vars: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != missing).collect();
            let e = config(&vars).unwrap_err();
            assert_eq!(e, ConfigError::Missing(missing));
            assert_eq!(e.to_string(), format!("{missing} is required"));
        }
        let short = [BASE[0], BASE[1], (ENV_JWT_SECRET, "short")];
        assert!(
            config(&short)
                .unwrap_err()
                .to_string()
                .starts_with("MASTER_JWT_SECRET is invalid: must be at least 32 bytes")
        );
        let bad_port = [BASE[0], BASE[1], BASE[2], (ENV_GATEWAY_PORT, "http")];
        assert!(
            config(&bad_port)
                .unwrap_err()
                .to_string()
                .contains("MASTER_GATEWAY_PORT")
        );
        let bad_retention = [BASE[0], BASE[1], BASE[2], (ENV_RAW_RETENTION, "2 days")];
        assert!(
            config(&bad_retention)
                .unwrap_err()
                .to_string()
                .contains("MASTER_SLO_RAW_RETENTION")
        );
    }
}
