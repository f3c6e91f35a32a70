//! Which files of a source tree go into its artifact: `.sourceignore` files and `spec.ignore`
//! in `.gitignore` syntax, with the semantics of Flux's matcher (go-git's gitignore), so the
//! same rules select the same files as under Flux.
//!
//! - Patterns are checked last to first; the first that matches decides (`!` re-includes).
//! - A pattern without `/` matches any path component; one with `/` matches from the
//!   directory of the file that defined it; `**` spans zero or more directories.
//! - A trailing `/` matches directories only; an excluded directory excludes its contents,
//!   because packing never descends into it.
//! - Components match with Go's `filepath.Match` rules: `*`, `?`, `[a-z]`, `[^a]`, `\x`.

/// Excluded from every artifact.
const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Excluded when neither `.sourceignore` files nor `spec.ignore` give patterns.
const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// Name of the per-directory ignore file.
pub const SOURCEIGNORE_FILE: &str = ".sourceignore";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    /// Path components of the directory the pattern was defined in.
    domain: Vec<String>,
    parts: Vec<String>,
    include: bool,
    dir_only: bool,
    anchored: bool,
}

impl Pattern {
    fn parse(line: &str, domain: &[String]) -> Option<Self> {
        if line.trim().is_empty() || line.starts_with('#') {
            return None;
        }
        let (include, mut text) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        // Trailing spaces are dropped unless escaped.
        if !text.ends_with("\\ ") {
            text = text.trim_end_matches(' ');
        }
        let dir_only = text.ends_with('/');
        let text = text.strip_suffix('/').unwrap_or(text);
        Some(Self {
            domain: domain.to_vec(),
            parts: text.split('/').map(str::to_owned).collect(),
            include,
            dir_only,
            anchored: text.contains('/'),
        })
    }

    /// Some(true) to exclude, Some(false) to include, None when the pattern does not apply.
    fn decide(&self, path: &[&str], is_dir: bool) -> Option<bool> {
        if path.len() <= self.domain.len() || !self.domain.iter().zip(path).all(|(d, p)| d == p) {
            return None;
        }
        let path = &path[self.domain.len()..];
        let matched = if self.anchored {
            self.matches_anchored(path, is_dir)
        } else {
            self.matches_any_component(path, is_dir)
        };
        matched.then_some(!self.include)
    }

    fn matches_any_component(&self, path: &[&str], is_dir: bool) -> bool {
        let Some(pattern) = self.parts.first() else {
            return false;
        };
        path.iter().enumerate().any(|(i, name)| {
            // A directory-only pattern cannot match the final component if it is a file; it
            // still matches a directory higher up the path.
            glob_match(pattern, name) && !(self.dir_only && !is_dir && i == path.len() - 1)
        })
    }

    fn matches_anchored(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut spanning = false;
        for (i, part) in self.parts.iter().enumerate() {
            if part.is_empty() {
                // Leading `/`: anchors without consuming a component.
                spanning = false;
                continue;
            }
            if part == "**" {
                if i == self.parts.len() - 1 {
                    break;
                }
                spanning = true;
                continue;
            }
            if part.contains("**") || path.is_empty() {
                return false;
            }
            if spanning {
                spanning = false;
                matched = false;
                while let Some((first, rest)) = path.split_first() {
                    path = rest;
                    if glob_match(part, first) {
                        matched = true;
                        break;
                    }
                }
                if !matched {
                    return false;
                }
            } else {
                if !glob_match(part, path[0]) {
                    return false;
                }
                matched = true;
                path = &path[1..];
            }
        }
        matched && !(self.dir_only && !is_dir && path.is_empty())
    }
}

/// Go `filepath.Match` for one path component. A malformed pattern matches nothing.
fn glob_match(pattern: &str, name: &str) -> bool {
    /// One class member character, `\` escapes allowed; `-` and `]` must be escaped.
    fn member(pattern: &[char], i: usize) -> Option<(char, usize)> {
        match pattern.get(i)? {
            '-' | ']' => None,
            '\\' => pattern.get(i + 1).map(|c| (*c, i + 2)),
            c => Some((*c, i + 1)),
        }
    }

    /// `[...]` at the start of `pattern` against `c`: (matched, length of the class), or None
    /// for a malformed class.
    fn class(pattern: &[char], c: char) -> Option<(bool, usize)> {
        let mut i = 1;
        let negated = pattern.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        let mut matched = false;
        let mut ranges = 0;
        loop {
            if pattern.get(i) == Some(&']') && ranges > 0 {
                return Some((matched != negated, i + 1));
            }
            let (lo, next) = member(pattern, i)?;
            i = next;
            let mut hi = lo;
            if pattern.get(i) == Some(&'-') {
                (hi, i) = member(pattern, i + 1)?;
            }
            matched |= lo <= c && c <= hi;
            ranges += 1;
        }
    }

    /// Length of the non-`*` token at `pattern[p]` and whether it matches `c`; None for a
    /// malformed pattern.
    fn token(pattern: &[char], p: usize, c: char) -> Option<(bool, usize)> {
        match pattern[p] {
            '?' => Some((true, 1)),
            '[' => class(&pattern[p..], c),
            '\\' => pattern.get(p + 1).map(|l| (*l == c, 2)),
            literal => Some((literal == c, 1)),
        }
    }

    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Wildcard matching that only ever backtracks to the last `*`: O(len(pattern) * len(name)),
    // so a hostile `.sourceignore` cannot make matching exponential.
    let (mut p, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p, n));
            p += 1;
            continue;
        }
        if p < pattern.len() {
            match token(&pattern, p, name[n]) {
                None => return false,
                Some((true, len)) => {
                    p += len;
                    n += 1;
                    continue;
                }
                Some((false, _)) => {}
            }
        }
        match last_star {
            Some((star, matched_from)) => {
                p = star + 1;
                n = matched_from + 1;
                last_star = Some((star, n));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

/// The ignore rules of one source tree.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Flux's rules for a source: `.gitignore`-style `files` (each `(directory, contents)`,
    /// directory relative to the root, `""` for the root, in the order found) and then
    /// `spec.ignore`, which has the last word. The VCS files are always excluded; the default
    /// exclusions (images, archives, CI files) apply only when there are no other patterns.
    pub fn for_source<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        spec_ignore: Option<&str>,
    ) -> Self {
        Self::build(files, spec_ignore, false)
    }

    /// Flux's `NewDefaultMatcher`, which Buckets use: the VCS files and the default
    /// exclusions always, then `files` and `spec.ignore`.
    pub fn with_defaults<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        spec_ignore: Option<&str>,
    ) -> Self {
        Self::build(files, spec_ignore, true)
    }

    fn build<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        spec_ignore: Option<&str>,
        always_defaults: bool,
    ) -> Self {
        let mut user = Vec::new();
        for (dir, contents) in files {
            let domain: Vec<String> = dir
                .split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            user.extend(contents.lines().filter_map(|l| Pattern::parse(l, &domain)));
        }
        if let Some(text) = spec_ignore {
            user.extend(text.lines().filter_map(|l| Pattern::parse(l, &[])));
        }
        let mut patterns: Vec<Pattern> = VCS_PATTERNS
            .iter()
            .filter_map(|p| Pattern::parse(p, &[]))
            .collect();
        if always_defaults || user.is_empty() {
            patterns.extend(
                DEFAULT_PATTERNS
                    .iter()
                    .filter_map(|p| Pattern::parse(p, &[])),
            );
        }
        patterns.extend(user);
        Self { patterns }
    }

    /// Whether `path` (relative, `/`-separated) stays out of the artifact.
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        self.patterns
            .iter()
            .rev()
            .find_map(|p| p.decide(&parts, is_dir))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(spec: &str) -> IgnoreRules {
        IgnoreRules::for_source([], Some(spec))
    }

    #[test]
    fn buckets_keep_the_default_exclusions_beside_their_own() {
        // GitRepository: a pattern of its own replaces the defaults.
        assert!(!rules("*.txt").is_excluded("logo.png", false));
        // Bucket (Flux's NewDefaultMatcher): the defaults stay.
        let bucket = IgnoreRules::with_defaults([("", "*.txt")], None);
        assert!(bucket.is_excluded("logo.png", false));
        assert!(bucket.is_excluded("notes.txt", false));
        assert!(bucket.is_excluded(".git/config", false));
        assert!(!bucket.is_excluded("app.yaml", false));
    }

    #[test]
    fn go_glob_semantics() {
        for (pattern, name, expected) in [
            ("*.yaml", "app.yaml", true),
            ("*.yaml", "app.yml", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("*", "", true),
            ("[", "[", false),
            ("[]a]", "]", false),
            ("[a-]", "a", false),
            ("[\\]]", "]", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name:?}");
        }
    }

    /// The obvious recursive matcher (exponential in the worst case), as a reference.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| reference(rest, &name[skip..])),
            Some(('?', rest)) => !name.is_empty() && reference(rest, &name[1..]),
            Some((c, rest)) => name.first() == Some(c) && reference(rest, &name[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn linear_matcher_agrees_with_reference(
            pattern in "[ab*?]{0,8}",
            name in "[ab]{0,8}",
        ) {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            proptest::prop_assert_eq!(glob_match(&pattern, &name), reference(&p, &n));
        }
    }

    #[test]
    fn pathological_patterns_match_in_linear_time() {
        let name = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(50));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &name));
        assert!(glob_match(&format!("{}a", "*a".repeat(50)), &name));
        // Exponential backtracking would take astronomically long here.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn defaults_apply_only_without_user_patterns() {
        let defaults = IgnoreRules::for_source([], None);
        for (path, is_dir) in [
            (".git", true),
            (".git/config", false),
            (".gitignore", false),
            ("logo.png", false),
            ("docs/img/logo.png", false),
            (".github", true),
            ("release.tar.gz", false),
            ("deploy/.sops.yaml", false),
        ] {
            assert!(defaults.is_excluded(path, is_dir), "{path}");
        }
        assert!(!defaults.is_excluded("deploy/app.yaml", false));

        // Any user pattern replaces the defaults, but never the VCS exclusions.
        let custom = rules("*.txt");
        assert!(!custom.is_excluded("logo.png", false));
        assert!(!custom.is_excluded(".github", true));
        assert!(custom.is_excluded("notes.txt", false));
        assert!(custom.is_excluded(".git", true));
        assert!(custom.is_excluded(".gitmodules", false));
    }

    #[test]
    fn flux_docs_exclude_all_but_deploy() {
        let r = rules("# exclude all\n/*\n# include deploy dir\n!/deploy\n");
        assert!(r.is_excluded("README.md", false));
        assert!(r.is_excluded("src", true));
        assert!(!r.is_excluded("deploy", true));
        assert!(!r.is_excluded("deploy/app.yaml", false));
        assert!(!r.is_excluded("deploy/base/kustomization.yaml", false));
    }

    #[test]
    fn component_anchoring_directories_and_double_stars() {
        let r = rules(
            "tmp/\nbuild\n/root-only.yaml\ndocs/**/*.md\n**/secret.yaml\n!keep/secret.yaml\n",
        );
        // Slash-free patterns match any component.
        assert!(r.is_excluded("build", false));
        assert!(r.is_excluded("a/b/build", true));
        assert!(r.is_excluded("a/build/x.yaml", false));
        // Directory-only patterns: directories and what is under them, not a file of that name.
        assert!(r.is_excluded("tmp", true));
        assert!(r.is_excluded("a/tmp/x", false));
        assert!(!r.is_excluded("tmp", false));
        // Leading slash anchors to the root.
        assert!(r.is_excluded("root-only.yaml", false));
        assert!(!r.is_excluded("sub/root-only.yaml", false));
        // ** spans directories.
        assert!(r.is_excluded("docs/a/b/c.md", false));
        assert!(r.is_excluded("docs/c.md", false));
        assert!(!r.is_excluded("other/c.md", false));
        assert!(r.is_excluded("x/y/secret.yaml", false));
        // Later negation wins.
        assert!(!r.is_excluded("keep/secret.yaml", false));
    }

    #[test]
    fn sourceignore_files_are_scoped_to_their_directory() {
        let r = IgnoreRules::for_source(
            [("", "*.md\n"), ("deploy", "/local.yaml\n*.tmp\n")],
            Some("!README.md"),
        );
        assert!(r.is_excluded("docs/guide.md", false));
        // spec.ignore is read last and so overrides the files.
        assert!(!r.is_excluded("README.md", false));
        assert!(r.is_excluded("deploy/local.yaml", false));
        assert!(!r.is_excluded("local.yaml", false), "scoped to deploy/");
        assert!(r.is_excluded("deploy/sub/x.tmp", false));
        assert!(!r.is_excluded("x.tmp", false));
        // With a .sourceignore present the defaults are gone, as in Flux.
        assert!(!r.is_excluded("logo.png", false));
    }

    #[test]
    fn comments_blank_lines_and_trailing_spaces() {
        let r = rules("# *.yaml\n\n   \nspace.txt   \nescaped\\ \n");
        assert!(!r.is_excluded("a.yaml", false));
        assert!(r.is_excluded("space.txt", false));
        assert!(r.is_excluded("escaped ", false));
        assert!(!r.is_excluded("escaped", false));
    }
}
