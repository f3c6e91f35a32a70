//! `.helmignore` as Helm reads it (`pkg/ignore`): one shell glob per line, `#` comments, `!`
//! negation, a trailing `/` for directories only, a leading `/` anchoring at the chart root,
//! a pattern without `/` matching the base name. `**` is refused, as Helm refuses it. Helm's
//! default rule, `templates/.?*`, keeps hidden files out of `templates/`.

/// The default rule Helm adds to every chart's rules.
const DEFAULT_RULE: &str = "templates/.?*";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("double-star (**) syntax is not supported")]
    DoubleStar,
    #[error("syntax error in pattern {0:?}")]
    Syntax(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Anchor {
    /// Leading `/`: the whole path, from the chart root.
    Root,
    /// A `/` inside: the whole path.
    Path,
    /// No `/`: the base name only.
    BaseName,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    /// Validated once; kept as chars because Go's `filepath.Match` steps by rune.
    pattern: Vec<char>,
    negate: bool,
    directory_only: bool,
    anchor: Anchor,
}

/// The rules of one chart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Parses `.helmignore` text and adds Helm's default rule.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut rules = Self::default();
        for line in text.lines() {
            rules.add(line)?;
        }
        rules.add(DEFAULT_RULE)?;
        Ok(rules)
    }

    /// Only Helm's default rule.
    pub fn defaults() -> Self {
        Self::parse("").unwrap_or_default()
    }

    fn add(&mut self, line: &str) -> Result<(), IgnoreError> {
        let mut rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(IgnoreError::DoubleStar);
        }
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let directory_only = rule.ends_with('/');
        if directory_only {
            rule = rule.trim_end_matches('/');
        }
        let (anchor, pattern) = if let Some(rest) = rule.strip_prefix('/') {
            (Anchor::Root, rest)
        } else if rule.contains('/') {
            (Anchor::Path, rule)
        } else {
            (Anchor::BaseName, rule)
        };
        // Checked once here, so matching never meets a broken pattern.
        let pattern: Vec<char> = pattern.chars().collect();
        validate(&pattern).map_err(|BadPattern| IgnoreError::Syntax(line.to_owned()))?;
        self.rules.push(Rule {
            pattern,
            negate,
            directory_only,
            anchor,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/`-separated) is ignored. Helm's order:
    /// the first rule that decides wins; a negated rule ignores what it does *not* match.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        // Asked for every file and every directory above it: decode the path once.
        let path: Vec<char> = path.chars().collect();
        let base_start = path.iter().rposition(|&c| c == '/').map_or(0, |i| i + 1);
        for rule in &self.rules {
            let subject = match rule.anchor {
                Anchor::Root | Anchor::Path => &path[..],
                Anchor::BaseName => &path[base_start..],
            };
            let matched = match_from(&rule.pattern, subject);
            if rule.negate {
                if rule.directory_only && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if rule.directory_only && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// A glob pattern Go's `filepath.Match` refuses (`ErrBadPattern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `filepath.Match` on `/`-separated names: `*` and `?` never cross `/`, `[...]` classes
/// with ranges and `^`/`!` negation, `\` escapes. `Err` for a malformed pattern.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, as Go reports syntax errors even after a mismatch.
    validate(&pattern)?;
    Ok(match_from(&pattern, &name))
}

fn validate(pattern: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => {
                if i + 1 >= pattern.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(pattern, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn match_from(pattern: &[char], name: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return name.is_empty();
    };
    match first {
        '*' => {
            // `*` takes any run of non-separators, shortest first.
            let mut taken = 0;
            loop {
                if match_from(rest, &name[taken..]) {
                    return true;
                }
                if taken >= name.len() || name[taken] == '/' {
                    return false;
                }
                taken += 1;
            }
        }
        '?' => match name.split_first() {
            Some((&c, tail)) if c != '/' => match_from(rest, tail),
            _ => false,
        },
        '[' => match name.split_first() {
            Some((&c, tail)) if c != '/' => match class(pattern, 0, Some(c)) {
                Ok((true, next)) => match_from(&pattern[next..], tail),
                _ => false,
            },
            _ => false,
        },
        '\\' => match (rest.split_first(), name.split_first()) {
            (Some((&escaped, after)), Some((&c, tail))) if escaped == c => match_from(after, tail),
            _ => false,
        },
        literal => match name.split_first() {
            Some((&c, tail)) if c == literal => match_from(rest, tail),
            _ => false,
        },
    }
}

/// Parses the class starting at `pattern[start] == '['`; returns whether `c` is in it (false
/// without `c`) and the index after `]`.
fn class(pattern: &[char], start: usize, c: Option<char>) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = matches!(pattern.get(i), Some('^') | Some('!'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&ch) = pattern.get(i) else {
            return Err(BadPattern);
        };
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (low, next) = class_char(pattern, i)?;
        i = next;
        let high = if pattern.get(i) == Some(&'-') && pattern.get(i + 1) != Some(&']') {
            let (high, next) = class_char(pattern, i + 1)?;
            i = next;
            high
        } else {
            low
        };
        if let Some(c) = c
            && low <= c
            && c <= high
        {
            matched = true;
        }
    }
    Ok((matched != negated && c.is_some(), i))
}

fn class_char(pattern: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match pattern.get(i) {
        Some('\\') => pattern.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) if c != '-' && c != ']' || i > 0 => Ok((c, i + 1)),
        _ => Err(BadPattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_go_filepath_match() {
        let yes = |p: &str, n: &str| assert_eq!(glob_match(p, n), Ok(true), "{p} ~ {n}");
        let no = |p: &str, n: &str| assert_eq!(glob_match(p, n), Ok(false), "{p} !~ {n}");
        yes("*.tgz", "a.tgz");
        no("*.tgz", "dir/a.tgz");
        yes("dir/*.tgz", "dir/a.tgz");
        yes("?.txt", "a.txt");
        no("?.txt", "ab.txt");
        yes("[a-c]at", "bat");
        no("[a-c]at", "dat");
        yes("[^a-c]at", "dat");
        yes("[!a-c]at", "dat");
        yes("\\*x", "*x");
        no("\\*x", "ax");
        yes(".?*", ".git");
        no(".?*", ".");
        assert_eq!(glob_match("[a-", "a"), Err(BadPattern));
        assert_eq!(glob_match("x\\", "x"), Err(BadPattern));
    }

    #[test]
    fn helmignore_rules_as_helm_applies_them() {
        let rules = Rules::parse("# comment\n.git/\n*.tmp\n/ci\ndocs/*.md\n\n.DS_Store\n").unwrap();
        assert!(rules.ignores(".git", true));
        assert!(!rules.ignores(".git", false), "directories only");
        assert!(rules.ignores("templates/x.tmp", false));
        assert!(rules.ignores("ci", true));
        assert!(!rules.ignores("templates/ci", true), "anchored at the root");
        assert!(rules.ignores("docs/a.md", false));
        assert!(!rules.ignores("docs/sub/a.md", false));
        assert!(rules.ignores("a/.DS_Store", false));
        // Helm's default: hidden files in templates/.
        assert!(rules.ignores("templates/.hidden.yaml", false));
        assert!(!rules.ignores("templates/deployment.yaml", false));
        assert!(!rules.ignores("", true));
        assert_eq!(Rules::parse("a/**/b\n"), Err(IgnoreError::DoubleStar));
    }

    #[test]
    fn a_negated_rule_ignores_what_it_does_not_match() {
        // Helm's (surprising) semantics: `!keep.txt` ignores every other file.
        let rules = Rules::parse("!keep.txt\n").unwrap();
        assert!(!rules.ignores("keep.txt", false));
        assert!(rules.ignores("other.txt", false));
    }
}
