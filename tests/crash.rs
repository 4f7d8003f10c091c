//! Crash safety with the real binary: `kill -9` in the middle of many concurrent puts
//! and overwrites, then a restart, must leave every key holding its old or its new
//! complete value, and never lose an acknowledged write.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: usize = 48;
const ROUNDS: u64 = 3;

fn shoal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
}

fn drive_args(root: &std::path::Path) -> Vec<String> {
    (0..6)
        .map(|i| root.join(format!("d{i}")).display().to_string())
        .collect()
}

/// Runs the stress workload until `acks_wanted` puts are acknowledged (plus a short random
/// pause so the kill lands mid-write), then SIGKILLs it. Returns the last acked generation per key.
fn stress_then_kill(
    drives: &[String],
    base: u64,
    acks_wanted: usize,
    pause_ms: u64,
) -> BTreeMap<String, u64> {
    let mut child = shoal()
        .args([
            "debug",
            "stress",
            "--parity",
            "2",
            "--keys",
            &KEYS.to_string(),
            "--writers",
            "16",
        ])
        .args(["--generation-base", &base.to_string()])
        .args(drives)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start shoal debug stress");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_mins(2);
    let mut count = 0;
    while count < acks_wanted && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts[0], "ack", "unexpected output {line:?}");
            acked.insert(parts[1].to_owned(), parts[2].parse().unwrap());
            count += 1;
        }
    }
    assert!(
        count >= acks_wanted,
        "stress made too little progress: {count} acks"
    );
    std::thread::sleep(Duration::from_millis(pause_ms));
    child.kill().expect("kill -9");
    child.wait().unwrap();
    // Acks printed before the kill are still in the pipe: they count too.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs_f64(0.2)) {
        let parts: Vec<&str> = line.split(' ').collect();
        if parts.len() == 3 && parts[0] == "ack" {
            acked.insert(parts[1].to_owned(), parts[2].parse().unwrap());
        }
    }
    acked
}

fn verify(drives: &[String]) -> BTreeMap<String, Option<u64>> {
    let out = shoal()
        .args([
            "debug",
            "verify",
            "--parity",
            "2",
            "--keys",
            &KEYS.to_string(),
        ])
        .args(drives)
        .output()
        .expect("run shoal debug verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let (key, value) = l.split_once(' ').unwrap();
            (key.to_owned(), value.parse().ok())
        })
        .collect()
}

/// Every key holds exactly the last acknowledged generation or the one in flight.
#[test]
fn kill_9_mid_write_keeps_old_or_new() {
    let root = tempfile::tempdir().unwrap();
    let drives = drive_args(root.path());
    let mut previous: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let base = round * 1_000_000;
        let acked = stress_then_kill(&drives, base, 40 + 25 * round as usize, 7 * round + 3);
        let now = verify(&drives);
        for i in 0..KEYS {
            let key = format!("key-{i}");
            let got = now.get(&key).copied().flatten();
            let allowed: Vec<Option<u64>> = match acked.get(&key) {
                Some(&a) => vec![Some(a), Some(a + 1)],
                None => vec![previous.get(&key).copied().flatten(), Some(base + 1)],
            };
            assert!(
                allowed.contains(&got),
                "round {round} {key}: found {got:?}, allowed {allowed:?}"
            );
        }
        previous = now;
    }
}
