//! The `jti` replay cache's memory (docs/client-authentication.md, README "Performance"):
//! inserts N assertions' (client, jti) pairs, all unexpired, and prints the
//! process's RSS before and after.
//!
//! ```text
//! cargo run --release --example replay_memory -- 1000000
//! ```

use tokenmint::ReplayCache;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cache = ReplayCache::default();
    let before = rss_kb();
    let started = std::time::Instant::now();
    let mut refused = 0;
    for i in 0..n {
        let jti = format!("5f0c2a9e-{i:012}-4d1b-9c7e");
        if cache
            .insert(
                &format!("client-{}", i % 100),
                &jti,
                4_000_000_000,
                1_000_000_000,
            )
            .is_err()
        {
            refused += 1;
        }
    }
    let after = rss_kb();
    println!(
        "{n} assertions: {} kept, {refused} refused (cache full), RSS {:.1} MB -> {:.1} MB (+{:.1} MB, {:.0} B per entry), {:.0} ns per insert",
        cache.len(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / cache.len().max(1) as f64,
        started.elapsed().as_nanos() as f64 / n as f64
    );
}
