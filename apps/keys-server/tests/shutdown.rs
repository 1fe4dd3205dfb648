//! SIGTERM to a `keys-server` process under load (SQLite and Postgres), behind a "proxy" that
//! health-checks `/readyz` every 20 ms and sends new requests only while it answers 200 (as a
//! load balancer does): zero failed requests. On SIGTERM the server keeps serving for
//! `server.shutdown_drain_ms` while `/readyz` answers 503, then closes the listener and
//! finishes what is under way.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_every_accepted_request() {
    for db in test_support::databases().await {
        let data = tempfile::tempdir().unwrap();
        let (mut child, url) = common::server_process(
            data.path(),
            &[
                ("KEYS__DATABASE__URL", db.url.as_str()),
                ("KEYS__SERVER__SHUTDOWN_GRACE_SECS", "10"),
                ("KEYS__SERVER__SHUTDOWN_DRAIN_MS", "500"),
            ],
        );
        let base = url.trim_end_matches("/marketplace").to_owned();

        // A fresh connection per request, as a proxy opening new ones would: an error is then
        // either "refused" (the listener is closed) or a real failure.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // The proxy's health check.
        let healthy = Arc::new(AtomicBool::new(true));
        let checker = {
            let (client, base, healthy, stop) = (client.clone(), base.clone(), Arc::clone(&healthy), Arc::clone(&stop));
            tokio::spawn(async move {
                // (saw "shutting down", which also told the client to close its connection)
                let mut saw = (false, false);
                while !stop.load(Ordering::Relaxed) {
                    let up = match client.get(format!("{base}/readyz")).send().await {
                        Ok(r) => {
                            if r.status() == 503 {
                                saw.0 = true;
                                saw.1 |= r.headers().get("connection").is_some_and(|v| v == "close");
                            }
                            r.status() == 200
                        }
                        Err(_) => false,
                    };
                    healthy.store(up, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                saw
            })
        };
        let ok = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut tasks = Vec::new();
        for n in 0..16 {
            let (client, base, stop, ok, refused, failures, healthy) = (
                client.clone(),
                base.clone(),
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&refused),
                Arc::clone(&failures),
                Arc::clone(&healthy),
            );
            tasks.push(tokio::spawn(async move {
                let paths = [
                    "/marketplace?q=postgres&kind=runbook",
                    "/api/v1/keys?q=redis",
                    "/marketplace/disk-full-recovery",
                    "/api/v1/recommendations?role=sre&limit=5",
                ];
                let mut i = n;
                while !stop.load(Ordering::Relaxed) {
                    if !healthy.load(Ordering::Relaxed) {
                        // The proxy would send this one to another instance.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    let path = paths[i % paths.len()];
                    i += 1;
                    match client.get(format!("{base}{path}")).send().await {
                        Ok(r) if r.status() == 200 => match r.bytes().await {
                            Ok(_) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push(format!("{path}: body cut: {e}")),
                        },
                        Ok(r) => failures.lock().unwrap().push(format!("{path}: status {}", r.status())),
                        Err(e) if e.is_connect() => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => failures.lock().unwrap().push(format!("{path}: {e:?}")),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let before = ok.load(Ordering::Relaxed);
        assert!(before > 50, "{db:?}: the load ran ({before} answers)");
        let term = Instant::now();
        // Blocks one of the runtime's four threads while the load keeps running on the others.
        let exit = common::terminate(&mut child, Duration::from_secs(15));
        let stopped_in = term.elapsed();
        let during_drain = ok.load(Ordering::Relaxed) - before;
        // Keep knocking briefly after the exit: only refusals now.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        let (saw_503, saw_close) = checker.await.unwrap();
        let failures = failures.lock().unwrap().clone();
        eprintln!(
            "{db:?}: {} answered (200), {during_drain} of them after SIGTERM, {} refused, {} failed; exit {exit} {stopped_in:?} after SIGTERM",
            ok.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            failures.len()
        );
        assert!(exit.success(), "{db:?}: graceful shutdown exits 0, got {exit}");
        assert!(failures.is_empty(), "{db:?}: {failures:#?}");
        assert!(saw_503, "{db:?}: /readyz said 503 while draining");
        assert!(saw_close, "{db:?}: answers while draining carry Connection: close");
        assert!(
            stopped_in >= Duration::from_millis(500),
            "{db:?}: drained before closing"
        );
    }
}
