//! The fixture: a console on an in-memory SQLite store with a manual clock, driven through
//! its router, plus a signed-in browser session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::Router;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use keygate_console::{Console, ConsoleConfig};
use keygate_domain::{Pepper, Timestamp};
use keygate_service::{Actor, ManualClock, Service, ServiceConfig, Tailnet, TailnetConfig};
use keygate_store::Store;
use tower::ServiceExt;

/// The server URL the console is configured with.
pub const SERVER_URL: &str = "http://127.0.0.1:8080";
/// The admin every signed-in test uses.
pub const ADMIN: &str = "root";
pub const PASSWORD: &str = "correct horse battery staple";
/// The time every test starts at: 2023-11-14T22:13:20Z.
pub const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
/// The client address requests come from.
pub const CLIENT: &str = "192.0.2.10:50000";

/// A console and what a test needs to look behind it.
pub struct TestConsole {
    pub router: Router,
    pub service: Service,
    pub tailnet: Tailnet,
    pub clock: ManualClock,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `Location` of a redirect.
    #[track_caller]
    pub fn location(&self) -> &str {
        assert!(
            self.status.is_redirection(),
            "expected a redirect, got {}: {}",
            self.status,
            self.body
        );
        self.headers[LOCATION].to_str().unwrap()
    }

    /// The `Set-Cookie` header that sets `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first hidden `csrf` field of the page.
    #[track_caller]
    pub fn csrf(&self) -> String {
        hidden_field(&self.body, "csrf").expect("the page has a csrf field")
    }
}

/// The value of the first `<input … name="NAME" value="…">` in `html`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A browser: its cookies (as one `Cookie` header) and the session's CSRF token.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    pub cookies: Vec<String>,
    pub csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| self.cookies.join("; "))
    }

    /// Keeps the cookies a response sets (and forgets those it clears).
    pub fn absorb(&mut self, reply: &Reply) {
        for value in reply.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let pair = value.split(';').next().unwrap_or_default().to_owned();
            let name = pair.split('=').next().unwrap_or_default().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            if !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
    }
}

impl TestConsole {
    /// A console with no admin, no users and no nodes.
    pub async fn new() -> Self {
        let store =
            keygate_store::connect("sqlite::memory:").await.expect("in-memory SQLite opens");
        Self::from_store(store).await
    }

    /// A console on `store` (its tailnet loads the nodes already there).
    pub async fn from_store(store: Arc<dyn Store>) -> Self {
        let clock = ManualClock::new(T0);
        let service = Service::new(
            store,
            Pepper::from_bytes([7; 32]),
            Arc::new(clock.clone()),
            ServiceConfig::default(),
        );
        let tailnet = Tailnet::load(service.clone(), TailnetConfig::default())
            .await
            .expect("the tailnet loads");
        let console =
            Console::new(tailnet.clone(), ConsoleConfig { server_url: SERVER_URL.into() });
        let addr: SocketAddr = CLIENT.parse().unwrap();
        let router = keygate_console::router(console).layer(MockConnectInfo(addr));
        Self { router, service, tailnet, clock }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("the body is read").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, browser: &Browser, path: &str) -> Reply {
        let mut req = Request::builder().method(Method::GET).uri(path);
        if let Some(c) = browser.cookie_header() {
            req = req.header(COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// Posts `fields` as a form, with the browser's cookies and a same-origin `Origin`.
    pub async fn post(&self, browser: &Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.post_with(
            browser,
            path,
            fields,
            &[("origin", SERVER_URL), ("sec-fetch-site", "same-origin")],
        )
        .await
    }

    /// Posts `fields` with the given extra headers (and no others).
    pub async fn post_with(
        &self,
        browser: &Browser,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = browser.cookie_header() {
            req = req.header(COOKIE, c);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// Posts a form of the signed-in `browser`, adding its CSRF token.
    pub async fn submit(&self, browser: &Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all = vec![("csrf", browser.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(browser, path, &all).await
    }

    /// Creates the admin [`ADMIN`] (as `keygate admin create` does).
    pub async fn create_admin(&self) {
        self.service
            .create_console_admin(&Actor::Admin, ADMIN, PASSWORD)
            .await
            .expect("the admin is created");
    }

    /// Fills in and sends the sign-in form from a fresh page load; the browser keeps its
    /// cookies.
    pub async fn sign_in_as(&self, browser: &mut Browser, name: &str, password: &str) -> Reply {
        let form = self.get(browser, "/console/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        browser.absorb(&form);
        let csrf = form.csrf();
        let reply = self
            .post(
                browser,
                "/console/sign-in",
                &[("csrf", &csrf), ("name", name), ("password", password)],
            )
            .await;
        browser.absorb(&reply);
        reply
    }

    /// A browser signed in as [`ADMIN`] (created first), with its CSRF token.
    pub async fn signed_in(&self) -> Browser {
        self.create_admin().await;
        let mut browser = Browser::default();
        let reply = self.sign_in_as(&mut browser, ADMIN, PASSWORD).await;
        assert_eq!(reply.location(), "/console/machines");
        let page = self.get(&browser, "/console/keys").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        browser.csrf = page.csrf();
        browser
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Asserts that `reply` sends the browser to the sign-in page.
#[track_caller]
pub fn assert_sign_in_redirect(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(reply.location().starts_with("/console/sign-in"), "{}", reply.location());
}
