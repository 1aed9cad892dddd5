//! Request creation through the HTTP API (session check, classifier, calendar, one transaction
//! with the request row, executors, audit and notices), on SQLite and PostgreSQL.
//!
//! Baseline in the same run: `GET /api/v1/me` over the same client, connections and session
//! check, with no write — so the ratio shows what the write path costs on this machine.
//!
//! Registrations are written by group commit (`requests::CreateQueue`); "mean batch" is
//! `contactd_requests_registered_total / contactd_request_batches_total` from `/metrics`. With
//! one batch at a time, the in-flight requests settle into two cohorts — one being written while
//! the other travels through HTTP — so the mean batch is about half of the requests in flight.
//!
//! `cargo bench --bench create_requests [-- FILTER…]` (e.g. `-- postgresql`: only the cases
//! whose name contains a filter) — targets: ≥ 2,000 creates/s on SQLite and ≥ 5,000/s on
//! PostgreSQL (2 cores). PostgreSQL is skipped when unreachable (set CONTACTD_TEST_POSTGRES_URL).
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use contactd::app;
use contactd::auth::{add_user, NewUser, Role};
use contactd::clock::{Clock, SystemClock};
use contactd::config::Config;
use contactd_classifier::Revision;

const CONCURRENCY: usize = 32;

/// Requests in flight: `CREATE_BENCH_CONCURRENCY` when set, else [`CONCURRENCY`].
fn concurrency() -> usize {
    std::env::var("CREATE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CONCURRENCY)
}
const CREATES: usize = 4_000;

/// Registrations per case: `CREATE_BENCH_N` when set (e.g. a longer run to profile), else
/// [`CREATES`].
fn creates() -> usize {
    std::env::var("CREATE_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CREATES)
}
const BASELINE: usize = 8_000;

fn pg_url() -> String {
    std::env::var("CONTACTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether to run the case `name`: every case, or those whose name contains one of the
/// command line's filters (`cargo bench --bench create_requests -- postgresql`).
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

async fn run_case(name: &str, database_url: &str, synchronous: &str) {
    if !selected(name) {
        return;
    }
    let text = format!(
        "[database]\nurl = \"{database_url}\"\nsqlite_synchronous = \"{synchronous}\"\nmax_connections = 16\n[http]\nlisten = \"127.0.0.1:0\"\n[log]\nfilter = \"warn\"\n"
    );
    let config = Config::from_toml(&text, Path::new("bench.toml"), &[]).expect("config");
    let storage = app::open_storage(&config).await.expect("storage");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let now = SystemClock.now();
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    contactd::classifier::import(
        &storage,
        &root.join("classifier.example.toml"),
        Revision::new(339, date("2020-07-22")),
        now,
    )
    .await
    .expect("import");
    let user = NewUser {
        login: "bench".into(),
        password: "bench password 1".into(),
        role: Role::Operator,
        executors: vec![],
        extension: Some("1001".into()),
    };
    add_user(&storage, &user, now).await.expect("user");
    storage.close().await;

    let app = support::spawn_app(config).await;
    let addr = app.addr;
    let token = app.sign_in("bench", "bench password 1").await;
    let bearer = format!("Bearer {token}");

    let me_bearer = bearer.clone();
    let baseline = drive(addr, BASELINE, move |_| {
        let request = hyper::Request::get("/api/v1/me")
            .header("host", "bench")
            .header("authorization", me_bearer.as_str())
            .body(Full::new(Bytes::new()))
            .expect("request");
        (request, 200)
    })
    .await;
    let elapsed_creates = drive(addr, creates(), move |i| {
        let body = format!(
            r#"{{"channel":"phone","applicant":{{"phone":"+38067{:07}","name":"Заявник"}},"description":"Витік води на вулиці","classifier_code":"22.5.27","request_type":"ordinary"}}"#,
            i % 300_000
        );
        let request = hyper::Request::post("/api/v1/requests")
            .header("host", "bench")
            .header("authorization", bearer.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        (request, 201)
    })
    .await;
    let metrics = app.metrics().await;
    let counter = |name: &str| support::metric_value(&metrics, name).unwrap_or(f64::NAN);
    let batch =
        counter("contactd_requests_registered_total") / counter("contactd_request_batches_total");
    let base_rate = BASELINE as f64 / baseline.as_secs_f64();
    let create_rate = creates() as f64 / elapsed_creates.as_secs_f64();
    println!(
        "{name:<28} creates {create_rate:>8.0}/s   baseline GET /me {base_rate:>8.0}/s   creates/baseline {:.2}   mean batch {batch:.1}",
        create_rate / base_rate
    );
    let _ = app.stop().await;
}

/// `n` requests with [`concurrency`] in flight — one keep-alive HTTP/1.1 connection per request in
/// flight, each sending its share one after another, as `wrk` does — and checks each answer's
/// status; returns the elapsed time. `make(i)` gives request `i` and the status it must get.
///
/// A lean client on purpose (hyper's connection API, the body bytes formatted directly): the load
/// generator shares the daemon's two cores, and each microsecond it spends is one the daemon
/// does not get. With reqwest and a JSON value built per request it took about a fifth of the
/// process's CPU in this bench.
async fn drive<F>(addr: SocketAddr, n: usize, make: F) -> Duration
where
    F: Fn(usize) -> (hyper::Request<Full<Bytes>>, u16) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::new();
    for _ in 0..concurrency() {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        connections.push(sender);
    }
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for mut sender in connections {
        let (make, next) = (make.clone(), next.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let (request, expected) = make(i);
                sender.ready().await.expect("connection");
                let response = sender.send_request(request).await.expect("send");
                let status = response.status().as_u16();
                // The body is read whole, so the connection can carry the next request.
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert_eq!(
                    status,
                    expected,
                    "request {i}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join");
    }
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        println!(
            "request creation through POST /api/v1/requests, {} requests, {} in flight",
            creates(),
            concurrency()
        );
        run_case(
            "sqlite (synchronous=full)",
            &format!("sqlite://{}/full.db", dir.path().display()),
            "full",
        )
        .await;
        run_case(
            "sqlite (synchronous=normal)",
            &format!("sqlite://{}/normal.db", dir.path().display()),
            "normal",
        )
        .await;
        match sqlx::postgres::PgPool::connect(&pg_url()).await {
            Ok(_) if !selected("postgresql") => {}
            Ok(admin) => {
                let name = format!("contactd_bench_{}", std::process::id());
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&admin)
                    .await
                    .expect("create db");
                let mut url = url::Url::parse(&pg_url()).expect("url");
                url.set_path(&name);
                run_case("postgresql", url.as_str(), "full").await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&admin)
                    .await;
            }
            Err(err) => println!("postgresql: skipped ({err})"),
        }
    });
}
