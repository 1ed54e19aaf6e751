//! Writing to stdout. What is written comes from `spandb::render`.

/// Stdout is gone: a closed pipe is a normal way to stop reading; anything else is reported.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("spandb: cannot write to stdout: {e}");
    std::process::exit(i32::from(crate::exit::FAILURE));
}

/// A `Serialize` value as one line of JSON (one document per command; `jq` pretty-prints).
pub fn json(value: &impl serde::Serialize) -> String {
    // Our output types hold no maps with non-string keys, the one thing serde_json refuses.
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Columns to draw in: `$COLUMNS`, else the terminal's width, else 120 (piped output).
pub fn terminal_width(tty: bool) -> usize {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        return cols;
    }
    if tty {
        if let Some((_, cols)) = console::Term::stdout().size_checked() {
            return usize::from(cols);
        }
    }
    120
}

/// Colour unless `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes an image's bytes to stdout; refuses a terminal (redirect to a file instead).
pub fn binary(bytes: &[u8]) -> spandb::Result<()> {
    use std::io::{IsTerminal as _, Write as _};
    let mut stdout = std::io::stdout();
    if stdout.is_terminal() {
        return Err(spandb::Error::invalid(
            "not writing a PNG to a terminal: redirect stdout to a file (> out.png)",
        ));
    }
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        stdout_failed(e)
    }
    Ok(())
}
