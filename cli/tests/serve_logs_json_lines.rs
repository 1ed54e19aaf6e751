//! `spandb serve --log-format json`: every line on stderr is a JSON object: the startup
//! line (with the addresses), one line per request (method, path without the query string,
//! status, latency), and the shutdown lines after SIGTERM, which ends the process with 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn get(addr: &str, path: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_logs_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spandb"))
        .args(["--db"])
        .arg(dir.path().join("db"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--otlp-grpc",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "info",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let next = || {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line within 30 s");
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let started = next();
    assert_eq!(started["message"], "spandb serving", "{started}");
    assert_eq!(started["level"], "INFO");
    let addr = started["query_addr"].as_str().unwrap().to_owned();

    let answer = get(&addr, "/api/search?q=%7B%20.secret%20%3D%201%20%7D");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let request = next();
    assert_eq!(request["message"], "request", "{request}");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/api/search", "no query string: {request}");
    assert_eq!(request["status"], 200);
    assert!(request["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(request["timestamp"].is_string());
    get(&addr, "/api/traces/nothex");
    assert_eq!(next()["status"], 400);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    reader.join().unwrap();
    let rest: Vec<serde_json::Value> = rx
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(rest.iter().any(|l| l["signal"] == "SIGTERM"), "{rest:?}");
    assert_eq!(rest.last().unwrap()["message"], "stopped", "{rest:?}");
}
