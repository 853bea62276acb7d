//! `TestApp`: the router over a fresh SQLite file, a manual clock, and typed request helpers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use keygate_api::AdminChannel;
use keygate_domain::{Pepper, Timestamp};
use keygate_service::{ManualClock, Service, ServiceConfig};
use serde_json::Value;
use tower::ServiceExt as _;

/// The clock's start: the created time of the reference's example key.
pub const T0: &str = "2021-12-09T23:22:39Z";
pub const T0_MILLIS: i64 = 1_639_092_159_000;
/// 90 days after [`T0`]: the example key's expiry.
pub const T0_PLUS_90_DAYS: &str = "2022-03-09T23:22:39Z";
pub const DAY: Duration = Duration::from_secs(86_400);
/// The default lifetime in seconds.
pub const NINETY_DAYS_SECONDS: u64 = 90 * 86_400;

/// How a test request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Arrives on the admin socket (the [`AdminChannel`] extension).
    Admin,
    /// No credentials at all.
    Anonymous,
    /// The token as the Basic user name with an empty password, as the Go client sends it.
    Basic(String),
    /// `Authorization: Bearer …`.
    Bearer(String),
    /// A raw `Authorization` header value.
    Header(String),
}

/// A response, fully read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    /// The body as JSON; panics (naming the body) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// The `message` of an error body, after checking it is the only field.
    pub fn message(&self) -> String {
        let body = self.json();
        let obj = body.as_object().unwrap_or_else(|| panic!("error body is not an object: {body}"));
        assert_eq!(obj.len(), 1, "error body has exactly one field: {body}");
        obj["message"].as_str().expect("message is a string").to_owned()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        self
    }
}

/// The router over a real store, with a clock the test moves by hand.
pub struct TestApp {
    pub router: Router,
    pub service: Service,
    /// The store under the service, for tests that set up what no route does.
    pub store: Arc<dyn keygate_store::Store>,
    pub clock: ManualClock,
    /// The live node state the router's device routes use.
    pub tailnet: keygate_service::Tailnet,
    _db: TempDb,
}

impl TestApp {
    pub async fn new() -> Self {
        init_test_log();
        let db = TempDb::new();
        let store = keygate_store::connect(&db.url()).await.expect("test database opens");
        let clock = ManualClock::new(Timestamp::from_unix_millis(T0_MILLIS));
        let service = Service::new(
            store.clone(),
            Pepper::from_bytes([7; 32]),
            Arc::new(clock.clone()),
            ServiceConfig::default(),
        );
        let tailnet = keygate_service::Tailnet::load(service.clone(), Default::default())
            .await
            .expect("tailnet state loads");
        let router = keygate_api::router(service.clone(), tailnet.clone());
        Self { router, service, store, clock, tailnet, _db: db }
    }

    /// Sends a request with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(with_auth(builder.body(body).expect("request builds"), auth)).await
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> TestResponse {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> TestResponse {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> TestResponse {
        self.call(Method::PATCH, path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> TestResponse {
        self.call(Method::DELETE, path, auth, None).await
    }

    /// Posts a form (`application/x-www-form-urlencoded`; `pairs` are sent as given, so
    /// values must not need escaping) with optional HTTP Basic credentials `(user, password)`.
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        pairs: &[(&str, &str)],
    ) -> TestResponse {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((user, password)) = basic {
            let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            builder = builder.header(AUTHORIZATION, value);
        }
        self.send(builder.body(Body::from(body.join("&"))).expect("request builds")).await
    }

    /// Creates an OAuth client as the admin; returns the response body (with its secret).
    pub async fn create_oauth_client(&self, scopes: &[&str], tags: &[&str]) -> Value {
        let body = serde_json::json!({ "keyType": "client", "scopes": scopes, "tags": tags });
        let r = self.post("/api/v2/tailnet/-/keys", &Auth::Admin, body).await;
        r.assert_status(StatusCode::OK);
        r.json()
    }

    /// Exchanges a client secret for an access token (form credentials); returns the token.
    pub async fn access_token(&self, client_secret: &str) -> String {
        let r = self
            .post_form(
                "/api/v2/oauth/token",
                None,
                &[("grant_type", "client_credentials"), ("client_secret", client_secret)],
            )
            .await;
        r.assert_status(StatusCode::OK);
        r.json()["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Sends a request as built by the test.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("the router never fails");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body reads").to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("body is UTF-8");
        TestResponse { status: parts.status, headers: parts.headers, text }
    }

    /// Creates a user through the API.
    pub async fn create_user(&self, name: &str) -> Value {
        let r = self
            .post("/api/v2/tailnet/-/users", &Auth::Admin, serde_json::json!({ "name": name }))
            .await;
        r.assert_status(StatusCode::OK);
        r.json()
    }

    /// Creates a user and an API token for it; returns the token's secret.
    pub async fn user_with_token(&self, name: &str) -> String {
        self.create_user(name).await;
        self.token_for(name).await
    }

    /// Creates an API token for an existing user; returns its secret.
    pub async fn token_for(&self, name: &str) -> String {
        let r = self
            .post("/api/v2/tailnet/-/tokens", &Auth::Admin, serde_json::json!({ "user": name }))
            .await;
        r.assert_status(StatusCode::OK);
        r.json()["key"].as_str().expect("token secret").to_owned()
    }

    /// Creates a key with `body` as `auth`; asserts success and returns the response body.
    pub async fn create_key(&self, auth: &Auth, body: Value) -> Value {
        let r = self.post("/api/v2/tailnet/-/keys", auth, body).await;
        r.assert_status(StatusCode::OK);
        r.json()
    }
}

/// The minimal create-key body: a one-off, untagged key.
pub fn minimal_key() -> Value {
    serde_json::json!({ "capabilities": { "devices": {} } })
}

fn with_auth(mut request: Request<Body>, auth: &Auth) -> Request<Body> {
    let header = match auth {
        Auth::Admin => {
            request.extensions_mut().insert(AdminChannel);
            None
        }
        Auth::Anonymous => None,
        Auth::Basic(token) => Some(format!("Basic {}", STANDARD.encode(format!("{token}:")))),
        Auth::Bearer(token) => Some(format!("Bearer {token}")),
        Auth::Header(value) => Some(value.clone()),
    };
    if let Some(h) = header {
        request.headers_mut().insert(AUTHORIZATION, h.parse().expect("header value"));
    }
    request
}

/// A database file removed (with its WAL files) when the test ends.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("keygate-api-test-{}-{n}.db", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Logs to the test output only when `TEST_LOG` is set.
fn init_test_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ =
                tracing_subscriber::fmt().with_env_filter("debug").with_test_writer().try_init();
        }
    });
}

/// Collects everything logged while the returned guard lives (on this thread), to check that
/// no secret is ever logged.
pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = LogBuffer(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // With a single registered dispatcher, tracing-core decides a call site's interest from
    // the default dispatcher of whichever thread reaches it first, so another test's thread
    // would cache "nobody listens" for call sites this test needs. A second dispatcher kept
    // alive for the whole run makes it ask every registered dispatcher instead.
    static SECOND_DISPATCHER: OnceLock<tracing::Dispatch> = OnceLock::new();
    SECOND_DISPATCHER
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
