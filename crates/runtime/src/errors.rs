//! Error messages with their causes: HTTP clients put the useful part ("connection refused",
//! "certificate unknown") in the source chain, not in the top error's text.

/// `error` and each of its sources, joined with `: `, repeated texts skipped.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_appended_once() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(chain(&error), "outer: connection refused");
    }
}
