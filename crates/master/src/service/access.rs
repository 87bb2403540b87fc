//! Who is calling and what they may do: the authenticated [`Caller`], and the role proofs
//! [`Viewer`], [`Operator`] and [`Admin`].
//!
//! A proof can only be made here, from a caller whose role is high enough, so a service
//! function that takes `&Operator` cannot be reached by a viewer: a missing role check is a
//! compile error. Adapters get proofs in two ways: as extractors for reads (a refusal is a
//! plain 403), or, for changes, from the service itself through `Audit::authorize`, which
//! writes the refusal to the audit log with the action and target the caller asked for.

use std::sync::Arc;

use crate::auth::{Role, TokenIssuer};
use crate::service::{ServiceError, ServiceResult};
use crate::store::Store;

/// An authenticated user of the API or the dashboard. The role is read from the store on every
/// request, so a role change or a deleted user takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    /// The source address, as the audit log records it.
    pub source: String,
}

/// Proof that a caller holds at least [`RoleProof::ROLE`].
pub trait RoleProof: Sized + Send + Sync + 'static {
    const ROLE: Role;
    fn caller(&self) -> &Caller;
    /// The proof for `caller`, or the caller back when the role is too low.
    fn check(caller: Caller) -> Result<Self, Caller>;
}

macro_rules! proof {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            caller: Caller,
        }

        impl RoleProof for $name {
            const ROLE: Role = $role;

            fn caller(&self) -> &Caller {
                &self.caller
            }

            fn check(caller: Caller) -> Result<Self, Caller> {
                if caller.role >= Self::ROLE {
                    Ok(Self { caller })
                } else {
                    Err(caller)
                }
            }
        }

        impl std::ops::Deref for $name {
            type Target = Caller;

            fn deref(&self) -> &Caller {
                &self.caller
            }
        }
    };
}

proof!(
    /// Any logged-in user.
    Viewer,
    Role::Viewer
);
proof!(
    /// An operator or an admin: may read commands and the audit log, run commands, set SLO
    /// objectives.
    Operator,
    Role::Operator
);
proof!(
    /// An admin: may manage users and register clusters.
    Admin,
    Role::Admin
);

/// A higher role's proof is also a lower role's.
macro_rules! implies {
    ($from:ty => $to:ty) => {
        impl From<$from> for $to {
            fn from(proof: $from) -> Self {
                Self {
                    caller: proof.caller,
                }
            }
        }
    };
}

implies!(Admin => Operator);
implies!(Admin => Viewer);
implies!(Operator => Viewer);

/// The refusal of `caller` for `what`, naming the role needed.
pub fn refusal(caller: &Caller, needed: Role, what: &str) -> ServiceError {
    ServiceError::forbidden(format!(
        "{what} needs role {needed} or higher; {} is {}",
        caller.username, caller.role
    ))
}

/// The proof of a role for a read, or a 403 naming `what` (not audited: reads are not).
pub fn require<R: RoleProof>(caller: Caller, what: &str) -> ServiceResult<R> {
    R::check(caller).map_err(|c| refusal(&c, R::ROLE, what))
}

/// Turns credentials into callers.
#[derive(Clone)]
pub struct Access {
    store: Arc<dyn Store>,
    tokens: TokenIssuer,
}

impl Access {
    pub fn new(store: Arc<dyn Store>, tokens: TokenIssuer) -> Self {
        Self { store, tokens }
    }

    /// The caller behind a login token (bearer or session cookie).
    pub async fn caller(&self, token: &str, source: String) -> ServiceResult<Caller> {
        let claims = self
            .tokens
            .verify(token)
            .ok_or_else(|| ServiceError::unauthorized("invalid or expired token"))?;
        let user =
            self.store.user(&claims.sub).await?.ok_or_else(|| {
                ServiceError::unauthorized(format!("user {:?} no longer exists", claims.sub))
            })?;
        let role = Role::parse(&user.role).ok_or_else(|| {
            ServiceError::internal(
                "reading a user",
                format!("user {:?} has an unknown role {:?}", user.username, user.role),
            )
        })?;
        Ok(Caller {
            username: user.username,
            role,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            username: "vera".into(),
            role,
            source: "127.0.0.1".into(),
        }
    }

    #[test]
    fn proofs_follow_the_role_order() {
        assert!(Viewer::check(caller(Role::Viewer)).is_ok());
        assert!(Operator::check(caller(Role::Viewer)).is_err());
        assert!(Operator::check(caller(Role::Admin)).is_ok());
        assert!(Admin::check(caller(Role::Operator)).is_err());
        let err = require::<Admin>(caller(Role::Operator), "listing users").unwrap_err();
        assert_eq!(
            err.message,
            "listing users needs role admin or higher; vera is operator"
        );
    }
}
