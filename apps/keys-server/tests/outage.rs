//! The database goes away under a running server (a real Postgres behind a TCP proxy the test
//! cuts, then restores): every answer is a success or a 503 with `Retry-After` — never a 401, a
//! redirect to sign in or a cleared cookie —, none waits past the pool's acquire timeout,
//! `/readyz` answers 503 within a second, pages served from memory keep being served, and the
//! server recovers by itself. Figures are printed for the closing note.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to Postgres that the test can cut: while cut, open connections are dropped and
/// new ones are closed at once.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (c, g) = (cut.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (c, g) = (c.clone(), g.clone());
                let target = target.clone();
                tokio::spawn(async move {
                    let born = g.load(Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let pipe = async {
                        tokio::select! {
                            _ = tokio::io::copy(&mut cr, &mut sw) => {}
                            _ = tokio::io::copy(&mut sr, &mut cw) => {}
                        }
                    };
                    // Dropped when the proxy is cut (a new generation starts).
                    let watch = async {
                        while !c.load(Ordering::SeqCst) && g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        () = pipe => {}
                        () = watch => {}
                    }
                });
            }
        });
        Self { port, cut, generation }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_answers_503_fast_and_recovers_without_a_restart() {
    let Some(db) = test_support::postgres_database().await else {
        return;
    };
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let mut proxied = url.clone();
    proxied.set_port(Some(proxy.port)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let settings = common::settings_with(
        proxied.as_str(),
        data.path(),
        &test_support::repo_assets_dir(),
        &[("database.acquire_timeout_ms", "1500".into())],
    );
    let app = keys_server::Application::build(&settings).await.unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&serde_json::json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = common::session_cookie_of(&r).unwrap();
    let get = |path: &'static str, with_cookie: bool| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let cookie = cookie.clone();
        async move {
            let started = Instant::now();
            let mut rb = client.get(url);
            if with_cookie {
                rb = rb.header("cookie", cookie);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            let clears = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap_or("").contains("keys_session=;"));
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            (path, status, started.elapsed(), retry, clears, location)
        }
    };
    let round = || async {
        let (a, b, c, d, e) = tokio::join!(
            get("/api/v1/me/entitlements", true),
            get("/account", true),
            get("/readyz", false),
            get("/marketplace?q=postgres", false),
            get("/marketplace/postgres-failover-runbook", false),
        );
        vec![a, b, c, d, e]
    };
    for (path, status, ..) in round().await {
        assert!(status == 200, "{path} before the outage: {status}");
    }

    proxy.cut();
    let outage = Instant::now();
    let mut answers = Vec::new();
    while outage.elapsed() < Duration::from_secs(6) {
        answers.extend(round().await);
    }
    proxy.restore();
    let restored = Instant::now();
    let mut recovered = None;
    while restored.elapsed() < Duration::from_secs(20) {
        let all = round().await;
        if all.iter().all(|(_, s, ..)| *s == 200) {
            recovered = Some(restored.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let failed = answers.iter().filter(|a| a.1 == 503).count();
    let longest = answers.iter().map(|a| a.2).max().unwrap();
    let longest_ready = answers.iter().filter(|a| a.0 == "/readyz").map(|a| a.2).max().unwrap();
    eprintln!(
        "outage of 6 s: {} requests, {failed} answered 503, longest {longest:?}, longest /readyz {longest_ready:?}, recovered {recovered:?} after the database came back",
        answers.len()
    );
    for (path, status, took, retry, clears, location) in &answers {
        assert!(
            *status == 200 || (*status == 503 && *retry),
            "{path}: {status} (location {location}) during the outage"
        );
        assert!(!clears, "{path}: the session cookie was cleared");
        assert!(*took < Duration::from_millis(2_500), "{path} took {took:?}");
    }
    assert!(failed > 0, "the outage was noticed");
    assert!(
        longest_ready < Duration::from_millis(1_200),
        "/readyz took {longest_ready:?}"
    );
    for (path, status, ..) in &answers {
        if path.starts_with("/marketplace") {
            assert_eq!(*status, 200, "{path} is served from memory");
        }
    }
    assert!(recovered.is_some(), "no recovery within 20 s");
    let _ = stop.send(());
    let _ = server.await;
}
