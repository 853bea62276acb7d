//! `flood`: floods of the public console forms that make the server hash passwords, while
//! `/health` is polled: the server must keep answering and its memory must stay flat.
//!
//! Two phases, each with every request sent at once over its own connection:
//! 1. S bogus setup posts (`/console/setup`), each with a made-up 64-hex link token and a
//!    self-chosen pre-session cookie equal to its `csrf` field, which is all the
//!    double-submit check asks for, so each request reaches the setup handler;
//! 2. an admin is created over the admin socket, then W sign-ins with its name and a wrong
//!    password (same CSRF trick).
//!
//! Reported: the server's peak RSS growth over the run (`VmHWM` at the end minus `VmRSS` at
//! the start), the worst `/health` latency, and the answers by kind: of the sign-ins,
//! `sign_in_guesses_checked` (401 "wrong name or password": a password was hashed),
//! `sign_in_limited` (429) and `sign_in_busy` (503, every hashing slot taken); of the setup
//! posts, `setup_refused` (403: the link was checked and refused), `setup_limited` (429) and
//! `setup_busy` (503). Any other answer, or a failed request, is an error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Args;
use http::header::{CONTENT_TYPE, COOKIE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::admin::authority_of;
use crate::report::Report;
use crate::server::{Server, ServerArgs};
use crate::stats::Samples;

/// The admin the sign-ins guess at, and its real password (never sent by the flood).
const ADMIN_NAME: &str = "flood-admin";
const ADMIN_PASSWORD: &str = "a long and unguessable passphrase";
/// Longest wait for one request; a request still unanswered then is an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct FloodArgs {
    /// Bogus setup posts sent at once.
    #[arg(long, default_value_t = 300)]
    pub setup_posts: usize,
    /// Wrong sign-ins sent at once.
    #[arg(long, default_value_t = 300)]
    pub sign_ins: usize,
    /// How often `/health` is asked, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub health_interval_ms: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The answers of one phase, by status.
#[derive(Default)]
struct Answers {
    by_status: Vec<(StatusCode, u64)>,
    errors: u64,
    first_error: Option<String>,
}

impl Answers {
    fn count(&self, status: StatusCode) -> u64 {
        self.by_status.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n)
    }

    /// Counts answers other than `expected` as errors.
    fn check(&mut self, expected: &[StatusCode], what: &str) {
        for (status, n) in &self.by_status {
            if !expected.contains(status) {
                self.errors += n;
                self.first_error.get_or_insert(format!("{what}: unexpected {status}"));
            }
        }
    }
}

pub async fn run(args: FloodArgs) -> anyhow::Result<Report> {
    let server = Server::start(&args.server, &[]).await?;
    let authority = authority_of(&server.url)?;
    let before = server.stats();

    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_health(
        authority.clone(),
        Duration::from_millis(args.health_interval_ms.max(1)),
        stop.clone(),
    ));

    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut setup = flood(&authority, "/console/setup", args.setup_posts, |i| {
        format!(
            "token={:016x}{i:048x}&name=mallory&password=not+the+real+one&confirm=not+the+real+one",
            stamp as u64
        )
    })
    .await;
    setup.check(
        &[StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS, StatusCode::SERVICE_UNAVAILABLE],
        "setup",
    );

    let admin_created = create_admin(&server).await;
    let mut sign_in = flood(&authority, "/console/sign-in", args.sign_ins, |_| {
        format!("name={ADMIN_NAME}&password=wrong+password+{stamp}")
    })
    .await;
    sign_in.check(
        &[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS, StatusCode::SERVICE_UNAVAILABLE],
        "sign-in",
    );

    stop.store(true, Ordering::Relaxed);
    let health = poller.await.context("the /health poller")?;
    let after = server.stats();

    let mut report = Report::new("flood");
    report.value("database", server.backend);
    report.int("setup_posts", args.setup_posts as u64, "");
    report.int("setup_refused", setup.count(StatusCode::FORBIDDEN), "");
    report.int("setup_limited", setup.count(StatusCode::TOO_MANY_REQUESTS), "");
    report.int("setup_busy", setup.count(StatusCode::SERVICE_UNAVAILABLE), "");
    report.int("sign_ins", args.sign_ins as u64, "");
    report.value("admin_created", admin_created);
    report.int("sign_in_guesses_checked", sign_in.count(StatusCode::UNAUTHORIZED), "");
    report.int("sign_in_limited", sign_in.count(StatusCode::TOO_MANY_REQUESTS), "");
    report.int("sign_in_busy", sign_in.count(StatusCode::SERVICE_UNAVAILABLE), "");
    report.int("health_checks", health.latencies.len() as u64, "");
    report.int("health_failures", health.failures, "");
    report.float("health_worst_ms", health.latencies.max_ms(), "ms");
    report.float("health_p99_ms", health.latencies.percentile_ms(99.0), "ms");
    match (before, after) {
        (Some(before), Some(after)) => {
            report.int("server_rss_start_bytes", before.rss_bytes, "B");
            let growth = after.peak_rss_bytes.saturating_sub(before.rss_bytes);
            report.int("server_peak_rss_growth_bytes", growth, "B");
        }
        _ => report.value("server_peak_rss_growth_bytes", serde_json::Value::Null),
    }
    report.int("errors", setup.errors + sign_in.errors + health.failures, "");
    if let Some(e) = setup.first_error.or(sign_in.first_error).or(health.first_error) {
        report.value("first_error", e);
    }
    report.server_figures(before, after);
    server.stop().await;
    Ok(report)
}

/// Creates the admin the sign-ins guess at, over the admin socket; whether that worked (a
/// server given by URL with a token has no socket: the guesses then go to an unknown name,
/// which costs the server the same hash).
async fn create_admin(server: &Server) -> bool {
    let body = json!({ "name": ADMIN_NAME, "password": ADMIN_PASSWORD });
    let created = async {
        let mut conn = server.admin.connect().await?;
        let (status, value) = conn.request(Method::POST, "/console/admins", Some(&body)).await?;
        if status != StatusCode::CREATED {
            bail!("creating the console admin: {status} {}", value["message"]);
        }
        anyhow::Ok(())
    };
    match created.await {
        Ok(()) => true,
        Err(e) => {
            eprintln!("keygate-bench: {e:#}; the sign-ins guess at an unknown name");
            false
        }
    }
}

/// Sends `count` form posts to `path` at once, each on its own connection with a self-chosen
/// pre-session token, and counts the answers.
async fn flood(
    authority: &str,
    path: &'static str,
    count: usize,
    fields: impl Fn(usize) -> String,
) -> Answers {
    let mut posts = JoinSet::new();
    for i in 0..count {
        let authority = authority.to_owned();
        // The double-submit check compares the `csrf` field with the cookie: choose both.
        let csrf = format!("{:064x}", i + 1);
        let body = format!("csrf={csrf}&{}", fields(i));
        posts.spawn(async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(HOST, &authority)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(COOKIE, format!("keygate_presession={csrf}"))
                .body(Full::new(Bytes::from(body)))?;
            send(&authority, request).await
        });
    }
    let mut answers = Answers::default();
    while let Some(outcome) = posts.join_next().await {
        match outcome.map_err(anyhow::Error::new).and_then(|r| r) {
            Ok(status) => match answers.by_status.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => answers.by_status.push((status, 1)),
            },
            Err(e) => {
                answers.errors += 1;
                answers.first_error.get_or_insert(format!("{path}: {e:#}"));
            }
        }
    }
    answers
}

/// Sends one request on a new HTTP/1.1 connection and reads the whole answer.
async fn send<B>(authority: &str, request: Request<B>) -> anyhow::Result<StatusCode>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let exchange = async {
        let stream = TcpStream::connect(authority).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        anyhow::Ok(status)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// What the `/health` poller saw.
#[derive(Default)]
struct Health {
    latencies: Samples,
    failures: u64,
    first_error: Option<String>,
}

/// Asks `/health` every `interval` (one request at a time) until `stop`, at least once.
async fn poll_health(authority: String, interval: Duration, stop: Arc<AtomicBool>) -> Health {
    let mut health = Health::default();
    loop {
        let started = Instant::now();
        let request = Request::builder()
            .uri("/health")
            .header(HOST, &authority)
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        match send(&authority, request).await {
            Ok(StatusCode::OK) => health.latencies.push(started.elapsed()),
            Ok(status) => {
                health.failures += 1;
                health.first_error.get_or_insert(format!("/health answered {status}"));
            }
            Err(e) => {
                health.failures += 1;
                health.first_error.get_or_insert(format!("/health: {e:#}"));
            }
        }
        if stop.load(Ordering::Relaxed) {
            return health;
        }
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
}
