//! The drive list as an operator meets it, with the real binary: `shoal debug layout`
//! prints the pool a cluster's endpoint list makes (text and JSON), `shoal server` with
//! that list but no root credentials says what it parsed and refuses to start (exit 2),
//! bad lists get exit 2 and a message naming the problem, local folders with a range
//! still serve, and a node whose peers' names do not resolve waits for them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn shoal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args)
        .env_remove("SHOAL_LOG_FORMAT")
        .env_remove("SHOAL_ROOT_USER")
        .env_remove("SHOAL_ROOT_PASSWORD")
        .output()
        .expect("run shoal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The lines of a child's output as they come, read on a thread of their own.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `shoal ARGS`, expects exit status 2 and `expected` in its stderr.
fn refused(args: &[&str], expected: &str) {
    let output = shoal(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    let err = stderr(&output);
    assert!(err.contains(expected), "{args:?}: {err}");
}

/// 4 loopback nodes × 4 drives: one set of 16 spread over the nodes, node 2's drives
/// marked local.
#[test]
fn debug_layout_prints_a_cluster() {
    let output = shoal(&[
        "debug",
        "layout",
        "http://127.0.0.{1...4}:9101/tmp/x/d{1...4}",
        "--address",
        "127.0.0.2:9101",
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    for line in [
        "pool: 4 nodes × 4 drives, 1 set of 16 (12+4)",
        "  quorums per set: write 12, read 12; each set survives losing 4 drives (1 node)",
        "  this node: 127.0.0.2:9101 (node 2)",
        "  node 2   127.0.0.2:9101  4 drives  (this node)",
        "set 1 (12+4):",
        "  drive 1   127.0.0.1:9101/tmp/x/d1",
        "  drive 2   127.0.0.2:9101/tmp/x/d1  local",
        "  drive 16  127.0.0.4:9101/tmp/x/d4",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
    assert_eq!(text.matches("  local\n").count(), 4, "{text}");
}

/// The JSON form of a ports-on-one-host cluster: every set's members on different
/// nodes, this node's four drives local, the same document whichever node asks but
/// for what is local.
#[test]
fn debug_layout_json() {
    let arg = "http://127.0.0.1:{9101...9108}/srv/d{1...4}";
    let layout = |address: &str| -> serde_json::Value {
        let output = shoal(&["debug", "layout", arg, "--address", address, "--json"]);
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let doc = layout("127.0.0.1:9103");
    assert_eq!(doc["summary"], "8 nodes × 4 drives, 2 sets of 16 (12+4)");
    assert_eq!(doc["this_node"], 3);
    assert_eq!(doc["write_quorum"], 12);
    assert_eq!(doc["node_failures_tolerated"], 2);
    let sets = doc["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    let mut local = 0;
    for set in sets {
        let members = set["members"].as_array().unwrap();
        assert_eq!(members.len(), 16);
        for node in 1..=8 {
            let on_node = members.iter().filter(|m| m["node"] == node).count();
            assert_eq!(on_node, 2, "set {} node {node}", set["set"]);
        }
        local += members.iter().filter(|m| m["local"] == true).count();
    }
    assert_eq!(local, 4);
    let mut other = layout("127.0.0.1:9108");
    assert_eq!(other["this_node"], 8);
    let mut doc = doc;
    for d in [&mut doc, &mut other] {
        d["this_node"] = serde_json::Value::Null;
        for node in d["nodes"].as_array_mut().unwrap() {
            node["this_node"] = false.into();
        }
        for set in d["sets"].as_array_mut().unwrap() {
            for m in set["members"].as_array_mut().unwrap() {
                m["local"] = false.into();
            }
        }
    }
    assert_eq!(doc, other, "two nodes derived different pools");
}

/// Local folders with a range are one node's pool, laid out as the server lays them.
#[test]
fn debug_layout_local_folders() {
    let output = shoal(&["debug", "layout", "/data/d{01...04}"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with("pool: 4 local drives, 1 set of 4 (2+2)\n"),
        "{text}"
    );
    assert!(text.contains("  drive 4   /data/d04  local\n"), "{text}");
}

/// The server parses a cluster list and finds its node; without the root credentials
/// every node must share it says what it parsed and refuses to start, creating nothing.
#[test]
fn server_refuses_a_cluster_without_root_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let arg = format!(
        "http://127.0.0.{{1...4}}:9101{}/d{{1...4}}",
        dir.path().display()
    );
    refused(
        &["server", "--address", "127.0.0.2:9101", &arg],
        "4 nodes × 4 drives, 1 set of 16 (12+4); this node: 127.0.0.2:9101; a cluster \
         needs SHOAL_ROOT_USER and SHOAL_ROOT_PASSWORD",
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "created drives"
    );
    refused(
        &["server", &arg],
        "cannot tell which node this is: no node has port 9000",
    );
    refused(
        &["server", "--address", "127.0.0.7:9101", &arg],
        "--address 127.0.0.7:9101 is none of them; the nodes are 127.0.0.1:9101, \
         127.0.0.2:9101, 127.0.0.3:9101, 127.0.0.4:9101",
    );
}

/// Bad lists are refused by both commands with exit status 2 and a message naming the
/// problem.
#[test]
fn bad_lists_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["/d{1...4"], "a { without its }"),
        (&["/d{1..4}"], "three dots"),
        (
            &["/d{1...2000}"],
            "names 2000 drives; at most 1024 per pool",
        ),
        (&["/a", "http://127.0.0.1:9101/a"], "mixes local folders"),
        (
            &["/a{1...2}", "/b"],
            "some drive arguments have {A...B} ranges",
        ),
        (
            &["/a{1...2}", "/b{1...2}"],
            "2 pools given (2 + 2 drives): pool expansion is not implemented yet",
        ),
        (&["http://127.0.0.1:9101"], "no drive path"),
        (&["http://127.0.0.1:9101/"], "root folder"),
        (
            &["http://127.0.0.1:99999/d"],
            "not a number from 1 to 65535",
        ),
        (
            &["http://127.0.0.1:9101/a", "http://127.0.0.1:9101/a/"],
            "named twice",
        ),
        (
            &[
                "http://127.0.0.1:9101/a",
                "http://127.0.0.1:9101/b",
                "http://127.0.0.2:9101/a",
            ],
            "node 127.0.0.2:9101 has 1 drives but node 127.0.0.1:9101 has 2",
        ),
        (
            &["http://127.0.0.{1...17}:9101/d"],
            "17 drives cannot be divided into erasure sets of 2 to 16 drives evenly over 17 nodes",
        ),
        (
            &[
                "http://127.0.0.{1...4}:9101/d{1...4}",
                "--set-drive-count",
                "6",
            ],
            "--set-drive-count 6 cannot divide 16 drives evenly over 4 nodes; it can be 2, 4, 8, 16",
        ),
        (
            &["http://127.0.0.{1...4}:9101/d{1...4}", "--parity", "9"],
            "parity 9 is more than half of the set size 16",
        ),
    ];
    for (args, expected) in cases {
        for command in [
            &["debug", "layout"][..],
            &["server", "--address", "127.0.0.1:9101"],
        ] {
            let all: Vec<&str> = command.iter().chain(args.iter()).copied().collect();
            refused(&all, expected);
        }
    }
    refused(
        &[
            "debug",
            "layout",
            "http://n{1...4}:9000/d",
            "--address",
            "n9:9000",
        ],
        "--address n9:9000 is none of them",
    );
}

/// Local folders given with a range are served as before: the server starts on the
/// four folders the range names.
#[test]
fn server_serves_local_folders_from_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let arg = format!("{}/d{{1...4}}", dir.path().display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args([
            "server",
            "--shards",
            "1",
            "--address",
            &format!("127.0.0.1:{port}"),
            &arg,
        ])
        .env("SHOAL_ROOT_USER", "layouttest")
        .env("SHOAL_ROOT_PASSWORD", "layouttest-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shoal server");
    let rx = lines_of(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_mins(1);
    let mut drives_line = None;
    while drives_line.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            drives_line = line.trim_start().strip_prefix("drives:").map(str::to_owned);
        }
    }
    child.kill().expect("stop the server");
    child.wait().unwrap();
    let expected: Vec<String> = (1..=4)
        .map(|i| dir.path().join(format!("d{i}")).display().to_string())
        .collect();
    assert_eq!(
        drives_line.as_deref().map(str::trim),
        Some(expected.join(" ").as_str())
    );
    for path in &expected {
        assert!(
            std::path::Path::new(path).join(".shoal/format").exists(),
            "{path}"
        );
    }
}

/// A node whose peers' host names do not resolve (yet: pods still starting, a DNS
/// record not made) waits for them, saying why, instead of exiting: the names are
/// resolved again at every attempt.
#[test]
fn server_waits_for_peers_whose_names_do_not_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut drives = Vec::new();
    for node in 1..=4 {
        let host = match node {
            1 => "127.0.0.1".to_owned(),
            n => format!("shoal-peer{n}.invalid"),
        };
        for drive in 1..=4 {
            let path = dir.path().join(format!("n{node}/d{drive}"));
            drives.push(format!("http://{host}:{port}{}", path.display()));
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["server", "--shards", "1", "--address"])
        .arg(format!("127.0.0.1:{port}"))
        .args(&drives)
        .env_remove("SHOAL_LOG_FORMAT")
        .env("SHOAL_ROOT_USER", "layouttest")
        .env("SHOAL_ROOT_PASSWORD", "layouttest-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shoal server");
    let rx = lines_of(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_mins(1);
    let (mut unresolved, mut waiting) = (false, false);
    while !(unresolved && waiting) && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            unresolved |= line.contains("cannot resolve shoal-peer2.invalid");
            waiting |= line.contains("waiting for the other nodes before serving");
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().expect("stop the server");
    child.wait().unwrap();
    assert!(unresolved, "says which name does not resolve");
    assert!(waiting, "says it waits");
    assert!(still_running, "waits instead of exiting");
}
