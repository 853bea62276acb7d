//! [`Console`]: what every console handler shares.

use std::sync::Arc;

use keygate_service::{Service, Tailnet};

use crate::once::OnceSecrets;
use crate::rate_limit::{SignInLimiter, LOCKOUT_POLICY};

/// Settings of the console.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The server's public URL (`https://keygate.example.com`): quoted in the
    /// `tailscale up --login-server …` command, and when it is https, cookies are `Secure`.
    pub server_url: String,
}

impl ConsoleConfig {
    /// Whether cookies must be `Secure` (and may use the `__Host-` prefix).
    pub fn secure_cookies(&self) -> bool {
        self.server_url.starts_with("https://")
    }

    /// `scheme://host[:port]` of the server URL, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        let url = self.server_url.trim_end_matches('/');
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        match url[after_scheme..].find('/') {
            Some(i) => &url[..after_scheme + i],
            None => url,
        }
    }
}

/// The console's shared state: the live tailnet (and through it the service), the settings,
/// the sign-in and setup limiters and the secrets waiting to be shown once. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) service: Service,
    pub(crate) tailnet: Tailnet,
    pub(crate) config: ConsoleConfig,
    /// Failed sign-ins, per account name and client address.
    pub(crate) limiter: SignInLimiter,
    /// Refused setup posts, per client address.
    pub(crate) setup_limiter: SignInLimiter,
    pub(crate) once: OnceSecrets,
}

impl Console {
    /// The console over `tailnet` (the process's one live tailnet; its service is the one
    /// every other surface uses).
    pub fn new(tailnet: Tailnet, config: ConsoleConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                service: tailnet.service().clone(),
                tailnet,
                config,
                limiter: SignInLimiter::new(LOCKOUT_POLICY),
                setup_limiter: SignInLimiter::new(LOCKOUT_POLICY),
                once: OnceSecrets::default(),
            }),
        }
    }

    pub(crate) fn service(&self) -> &Service {
        &self.inner.service
    }

    pub(crate) fn tailnet(&self) -> &Tailnet {
        &self.inner.tailnet
    }

    pub(crate) fn config(&self) -> &ConsoleConfig {
        &self.inner.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_the_url_without_its_path() {
        let c = |url: &str| ConsoleConfig { server_url: url.into() };
        assert_eq!(c("https://kg.example.com/").origin(), "https://kg.example.com");
        assert_eq!(c("http://127.0.0.1:8080").origin(), "http://127.0.0.1:8080");
        assert_eq!(c("https://kg.example.com/base/").origin(), "https://kg.example.com");
        assert!(c("https://kg.example.com").secure_cookies());
        assert!(!c("http://kg.example.com").secure_cookies());
    }
}
