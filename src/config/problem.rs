//! What went wrong in a config file: each `Problem` with the byte span
//! toml gave it and its dotted key, and `Problems`, all of one file, which
//! turns spans into `file:line:column` only when printed.

use std::ops::Range;
use std::path::PathBuf;

/// One problem found in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub span: Range<usize>,
    /// Dotted key path, e.g. `app.web.restart_delay`.
    pub key: String,
    pub message: String,
}

/// Every problem of one file, printable as `file:line:col: key: message`.
#[derive(Debug)]
pub struct Problems {
    pub file: PathBuf,
    pub text: String,
    pub list: Vec<Problem>,
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let (line, col) = line_col(&self.text, p.span.start);
            write!(f, "{}:{line}:{col}: ", self.file.display())?;
            if !p.key.is_empty() {
                write!(f, "{}: ", p.key)?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé=x", 7), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
