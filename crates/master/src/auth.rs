//! Authentication: argon2id password hashes, HS256 JWTs with `exp`, roles, per-source login
//! rate limiting, and per-cluster agent tokens (random, stored as a SHA-256 hash).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Roles live in the wire model, shared by the API, the dashboard and the commands.
pub use atlhyper_model::Role;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("token signing failed: {0}")]
    Sign(String),
    #[error("randomness unavailable: {0}")]
    Random(String),
}

/// Hashes a password with argon2id (m = 19 MiB, t = 2, p = 1) and a fresh salt. Tens of
/// milliseconds: call it from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// The claims of a login token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
}

const ISSUER: &str = "atlhyper-master";

/// Signs and checks login tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct WireClaims {
    sub: String,
    role: Role,
    iat: u64,
    exp: u64,
    iss: String,
}

impl TokenIssuer {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    /// A token for `username` valid from `now_s` (unix seconds) for the configured lifetime.
    pub fn issue(&self, username: &str, role: Role, now_s: u64) -> Result<String, AuthError> {
        let claims = WireClaims {
            sub: username.to_owned(),
            role,
            iat: now_s,
            exp: now_s + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// The claims of a valid, unexpired token signed by this master; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &validation).ok()?;
        let c = data.claims;
        Some(Claims {
            sub: c.sub,
            role: c.role,
            iat: c.iat,
            exp: c.exp,
        })
    }
}

/// A new agent token: 32 random bytes, hex.
pub fn new_agent_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

/// What is stored of an agent token. Tokens are 256 random bits, so a fast hash suffices.
pub fn agent_token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Compares two hashes in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// At most `limit` login attempts per source address in any fixed window of `window`.
pub struct LoginLimiter {
    limit: u32,
    window: Duration,
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt; `false` when the source is over its limit.
    pub fn allow(&self, source: IpAddr, now: Instant) -> bool {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if attempts.len() > 10_000 {
            let window = self.window;
            attempts.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = attempts.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn passwords_round_trip_and_bad_hashes_never_match() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_expire_and_are_bound_to_the_secret() {
        let issuer = TokenIssuer::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = issuer.issue("ana", Role::Operator, now).unwrap();
        let claims = issuer.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("ana", Role::Operator));
        let expired = issuer.issue("ana", Role::Operator, now - 3600).unwrap();
        assert_eq!(issuer.verify(&expired), None);
        let other = TokenIssuer::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert_eq!(other.verify(&token), None);
        assert_eq!(issuer.verify("garbage"), None);
    }

    #[test]
    fn agent_tokens_are_random_and_hashed() {
        let (a, b) = (new_agent_token().unwrap(), new_agent_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(constant_time_eq(&agent_token_hash(&a), &agent_token_hash(&a)));
        assert!(!constant_time_eq(&agent_token_hash(&a), &agent_token_hash(&b)));
    }

    #[test]
    fn login_limiter_counts_per_source_and_window() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!((0..3).all(|_| limiter.allow(ip, t0)));
        assert!(!limiter.allow(ip, t0));
        assert!(limiter.allow([10, 0, 0, 2].into(), t0));
        assert!(limiter.allow(ip, t0 + Duration::from_secs(61)));
    }
}
