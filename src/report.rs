//! How the binary says why it stopped: the error, then each cause not already said.
//!
//! Many of the library's errors carry their cause in their own message (so that one sent back
//! over the control socket, as text, still says everything), and chain it as their source as
//! well. Printed as a message and its chain of causes, such an error said the same thing twice
//! (`[backup] dir /x: Not a directory (os error 20)`, then `Caused by: Not a directory (os
//! error 20)`).

/// `error` with the causes an earlier line does not already end with (a message that carries
/// its cause carries it last, after `: `). A short cause that only appears inside an earlier
/// line (`invalid` in `invalid actor: …`) is still said.
pub fn report(error: &anyhow::Error) -> String {
    let mut said = vec![error.to_string()];
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        let already = said
            .iter()
            .any(|line| *line == cause || line.ends_with(&format!(": {cause}")));
        if !already {
            said.push(cause);
        }
    }
    let mut text = said.remove(0);
    match said.len() {
        0 => {}
        1 => text.push_str(&format!("\n\nCaused by:\n    {}", said[0])),
        _ => {
            text.push_str("\n\nCaused by:");
            for (n, cause) in said.iter().enumerate() {
                text.push_str(&format!("\n    {n}: {cause}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("[backup] dir /x: {source}")]
    struct CarriesItsCause {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_says_is_not_said_again() {
        let error = anyhow::Error::new(CarriesItsCause {
            source: std::io::Error::other("Not a directory (os error 20)"),
        });
        assert_eq!(
            report(&error),
            "[backup] dir /x: Not a directory (os error 20)"
        );

        let error = anyhow::Error::new(std::io::Error::other("disk full"))
            .context("writing the backup")
            .context("scheduled backup");
        assert_eq!(
            report(&error),
            "scheduled backup\n\nCaused by:\n    0: writing the backup\n    1: disk full"
        );
        let error = anyhow::anyhow!("plain");
        assert_eq!(report(&error), "plain");
        // Said inside a line, not as its cause: still said.
        let error = anyhow::Error::new(std::io::Error::other("backup"))
            .context("backup dir is full: writing the backup file");
        assert_eq!(
            report(&error),
            "backup dir is full: writing the backup file\n\nCaused by:\n    backup"
        );
    }
}
