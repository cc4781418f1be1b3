//! `rollcall import` and `export` as an operator sees them: piped, stderr carries only the
//! per-line errors and the summary; on a terminal, a progress line that is erased before
//! anything else is written, so the summary stands alone.

mod common;

use std::process::Command;

use common::*;

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            if i == 1 {
                "{not json\n".to_string()
            } else {
                // The `export` format, as another directory wrote it.
                let user = serde_json::json!({
                    "id": uuid::Uuid::now_v7(),
                    "user_name": format!("import.user{i}"),
                    "active": false,
                    "created": "2026-01-01T00:00:00Z",
                    "modified": "2026-01-01T00:00:00Z",
                    "version": 0
                });
                format!("{user}\n")
            }
        })
        .collect()
}

#[test]
fn piped_stderr_gets_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = output_with_stdin(&mut import_command(&data), lines(3).as_bytes());
    assert!(
        !out.status.success(),
        "a failed line makes the exit non-zero"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reported: Vec<&str> = stderr.lines().collect();
    assert!(reported[0].starts_with("line 2: "), "{stderr:?}");
    assert_eq!(reported[1], "imported 2 users, 1 failed");
    assert_eq!(reported[2], "Error: 1 line was not imported");
    assert_eq!(reported.len(), 3, "{stderr:?}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

/// Runs `shell` (a `sh -c` command line) with a terminal as stdin, stdout and stderr, and
/// returns what the terminal showed; `None` where `script` (util-linux) is missing.
fn on_a_terminal(shell: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", "command -v script"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "script is required in CI (apt-get install -y bsdutils)"
        );
        eprintln!("skipping: script is not installed (apt-get install -y bsdutils)");
        return None;
    }
    let out = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .env("ROLLCALL_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_sees_progress_that_is_erased_before_each_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("users.jsonl");
    std::fs::write(&input, lines(3)).unwrap();
    // Only stderr reaches the terminal: the acknowledgements go to a file.
    let Some(shown) = on_a_terminal(&format!(
        "{BIN} import --data {} < {} > {}",
        data.display(),
        input.display(),
        dir.path().join("acks").display()
    )) else {
        return;
    };
    let erase = "\r\x1b[2K";
    assert!(
        shown.contains(&format!("{erase}imported 1 user (")),
        "{shown:?}"
    );
    // The line is erased before the error is written, and drawn again after it.
    let error_at = shown.find("line 2: ").expect("the bad line is reported");
    assert!(shown[..error_at].ends_with(erase), "{shown:?}");
    assert!(shown[error_at..].contains(", 1 failed"), "{shown:?}");
    // The summary stands alone on its line.
    assert!(
        shown.contains(&format!("{erase}imported 2 users, 1 failed\r\n")),
        "{shown:?}"
    );

    let Some(shown) = on_a_terminal(&format!(
        "{BIN} export --data {} > /dev/null",
        data.display()
    )) else {
        return;
    };
    assert!(
        shown.contains(&format!("{erase}exported 1 user (")),
        "{shown:?}"
    );
    assert!(shown.ends_with(erase), "erased at the end: {shown:?}");
}
