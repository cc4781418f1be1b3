//! Progress of a long `import` or `export` on stderr: one line, redrawn at most four times a
//! second, and only when stderr is a terminal. Piped or captured stderr gets no progress, only
//! what the command reports anyway, so scripts and logs see the same text as before.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(250);
/// Erases the terminal line the cursor is on and returns to its start.
const CLEAR_LINE: &str = "\r\x1b[2K";

pub struct Progress {
    verb: &'static str,
    shown: bool,
    drawn: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// `verb` says what is counted: "imported", "exported".
    pub fn on_stderr(verb: &'static str) -> Self {
        Self {
            verb,
            shown: std::io::stderr().is_terminal(),
            drawn: false,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// Redraws the line if it is due.
    pub fn update(&mut self, done: u64, failed: u64) {
        if !self.shown || self.last_draw.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        let records = if done == 1 { "record" } else { "records" };
        let mut line = format!("{CLEAR_LINE}{} {done} {records} ({rate:.0}/s)", self.verb);
        if failed > 0 {
            line.push_str(&format!(", {failed} failed"));
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, before another message goes to stderr or when the work is done.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(CLEAR_LINE.as_bytes());
            let _ = err.flush();
            self.drawn = false;
            // The next update draws at once, so the line does not vanish for a quarter second.
            self.last_draw = None;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
