//! Where a scenario came from, as the output files record it: the file as
//! named on the command line, the SHA-256 of its bytes exactly as read
//! (before any `--set`, `--seed` or `--duration` override, which the files
//! record separately) and its story, the opening comment. None of it
//! affects a simulation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The scenario file's path as given (e.g. `models/mm1.toml`).
    pub scenario_file: String,
    /// `sha256:` and the 64 lowercase hex digits of the file's bytes.
    pub scenario_digest: String,
    /// The opening comment (see [`story`]); empty when there is none.
    pub story: String,
}

impl Origin {
    /// The origin of scenario `text` read from `file`.
    pub fn of(text: &str, file: &str) -> Origin {
        Origin {
            scenario_file: file.to_string(),
            scenario_digest: format!("sha256:{}", crate::sha256::sha256_hex(text.as_bytes())),
            story: story(text),
        }
    }
}

/// A scenario's opening comment: its leading lines that start with `#`, up
/// to the first other line (a blank line too), each without the `#` and
/// one space after it, joined by newlines.
pub fn story(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| {
            let line = &line[1..];
            line.strip_prefix(' ').unwrap_or(line)
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_story_is_the_opening_comment() {
        let text = "# A title.\n#\n#  indented\n#no space\n\n# not the story\nversion = 1\n";
        assert_eq!(story(text), "A title.\n\n indented\nno space");
        assert_eq!(story("version = 1\n# late comment\n"), "");
        assert_eq!(story(""), "");
        assert_eq!(story("# crlf\r\n# lines\r\nversion = 1\r\n"), "crlf\nlines");
    }

    #[test]
    fn the_digest_is_of_the_bytes() {
        let o = Origin::of("abc", "x.toml");
        assert_eq!(o.scenario_digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(o.scenario_file, "x.toml");
    }
}
