//! Every acknowledged write survives SIGKILL, and indexes agree with records afterwards.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::*;

#[test]
fn acknowledged_writes_survive_sigkill_and_indexes_agree_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = import_command(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..100_000 {
            let line = serde_json::json!({
                "id": uuid::Uuid::now_v7(),
                "user_name": format!("Durable.User{i:06}"),
                "external_id": format!("ext-{i}"),
                "emails": [{"value": format!("durable{i}@example.com"), "type": "work", "primary": true}],
                "active": i % 2 == 0,
                "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z",
                "version": 0
            });
            if writeln!(stdin, "{line}").is_err() {
                return; // the child was killed
            }
        }
    });

    let mut acked = BTreeSet::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 400 {
        let line = lines.next().expect("import acknowledges writes").unwrap();
        let ack: serde_json::Value = serde_json::from_str(&line).unwrap();
        acked.insert(ack["userName"].as_str().unwrap().to_string());
    }
    child.kill().unwrap(); // SIGKILL: no chance to flush anything
    child.wait().unwrap();
    feeder.join().unwrap();

    let check = run(&data, &["check"]);
    assert!(
        check.status.success(),
        "indexes and counters disagree with records after a crash: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let export = run(&data, &["export"]);
    assert!(export.status.success());
    let stored: BTreeSet<String> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["user_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert!(!export_has_hashes(&data));

    let licenses = run(&data, &["licenses"]);
    let text = String::from_utf8(licenses.stdout).unwrap();
    let active = stored
        .iter()
        .filter(|n| n[12..].parse::<u32>().unwrap() % 2 == 0)
        .count();
    assert!(
        text.contains(&format!("employee  {active}/unlimited")),
        "{text}"
    );
}

fn export_has_hashes(data: &std::path::Path) -> bool {
    String::from_utf8(run(data, &["export"]).stdout)
        .unwrap()
        .contains("argon2")
}
