//! Which email addresses we write to: the plain `local@domain` form that SES and every mail
//! server accept as it is.
//!
//! RFC 5322 allows much more (`a@b.com(comment)`, `"a b"@example.com`, raw UTF-8 local parts
//! with SMTPUTF8), but SES does not send to all of it, and each extra form is a way for an
//! address to mean something other than what it looks like. Such addresses are skipped with
//! the reason, before any provider is called, rather than guessed at.

/// Why an address is not written to. Reads after "email address ": "email address has a
/// comment in parentheses". Never quotes the address (reasons are logged and stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressProblem {
    #[error("has no @")]
    NoAt,
    #[error("has more than one @")]
    ManyAt,
    #[error("has nothing before the @")]
    EmptyLocal,
    #[error("is longer than 254 characters")]
    TooLong,
    #[error("has a name part longer than 64 characters")]
    LocalTooLong,
    #[error("has characters outside plain ASCII (international addresses are not supported)")]
    NonAscii,
    #[error("has a space or a control character")]
    Whitespace,
    #[error("has a comment in parentheses")]
    Comment,
    #[error("has a quoted name part")]
    Quoted,
    #[error("has a character an address cannot hold (one of < > , ; : [ ] \\)")]
    Special,
    #[error("has a dot at the start or end of its name part, or two dots in a row")]
    Dots,
    #[error("has a domain that is not a host name like example.com")]
    Domain,
}

/// Checks that `address` is a plain ASCII `local@domain`: a dot-atom local part of at most 64
/// characters, a host name with at least one dot, 254 characters in all (RFC 5321 4.5.3.1).
impl AddressProblem {
    /// Every problem, for reading a stored skip reason back.
    pub const ALL: [AddressProblem; 12] = [
        AddressProblem::NoAt,
        AddressProblem::ManyAt,
        AddressProblem::EmptyLocal,
        AddressProblem::TooLong,
        AddressProblem::LocalTooLong,
        AddressProblem::NonAscii,
        AddressProblem::Whitespace,
        AddressProblem::Comment,
        AddressProblem::Quoted,
        AddressProblem::Special,
        AddressProblem::Dots,
        AddressProblem::Domain,
    ];
}

pub fn check_email_address(address: &str) -> Result<(), AddressProblem> {
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    if !address.is_ascii() {
        return Err(AddressProblem::NonAscii);
    }
    if address
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(AddressProblem::Whitespace);
    }
    if address.contains(['(', ')']) {
        return Err(AddressProblem::Comment);
    }
    if address.contains('"') {
        return Err(AddressProblem::Quoted);
    }
    let (local, domain) = match address.split_once('@') {
        None => return Err(AddressProblem::NoAt),
        Some((_, domain)) if domain.contains('@') => return Err(AddressProblem::ManyAt),
        Some(parts) => parts,
    };
    if address.len() > 254 {
        return Err(AddressProblem::TooLong);
    }
    if local.is_empty() {
        return Err(AddressProblem::EmptyLocal);
    }
    if local.len() > 64 {
        return Err(AddressProblem::LocalTooLong);
    }
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c))
    {
        return Err(AddressProblem::Special);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AddressProblem::Dots);
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(if domain.contains(['[', ']', '<', '>', ',', ';', ':', '\\']) {
            AddressProblem::Special
        } else {
            AddressProblem::Domain
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressProblem::*;

    #[test]
    fn ordinary_addresses_pass() {
        for good in [
            "laura@example.com",
            "laura.rossi+orders@mail.bottega-rossi.example",
            "o'brien@example.ie",
            "x_y-z@sub.example.co.uk",
            "1234@123.example",
        ] {
            assert_eq!(check_email_address(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn doubtful_addresses_are_refused_with_the_reason() {
        for (bad, problem) in [
            ("a@b.com(comment)", Comment),
            ("(comment)a@b.com", Comment),
            ("laura@exämple.com", NonAscii),
            ("làura@example.com", NonAscii),
            ("\"laura rossi\"@example.com", Whitespace),
            ("\"laura\"@example.com", Quoted),
            ("laura@example.com, eve@example.com", Whitespace),
            ("laura@example.com,eve@example.com", ManyAt),
            ("laura\r\n@example.com", Whitespace),
            ("no-at-sign", NoAt),
            ("@example.com", EmptyLocal),
            ("a@b@example.com", ManyAt),
            ("<laura@example.com>", Special),
            ("laura;x@example.com", Special),
            ("laura@[127.0.0.1]", Special),
            (".laura@example.com", Dots),
            ("laura..rossi@example.com", Dots),
            ("laura@localhost", Domain),
            ("laura@-example.com", Domain),
            ("laura@example..com", Domain),
            ("laura@", Domain),
        ] {
            assert_eq!(check_email_address(bad), Err(problem), "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(check_email_address(&long_local), Err(LocalTooLong));
        let long = format!("a@{}.example", "b".repeat(250));
        assert_eq!(check_email_address(&long), Err(TooLong));
    }

    #[test]
    fn reasons_read_after_email_address_and_quote_nothing() {
        assert_eq!(
            format!("email address {}", Comment),
            "email address has a comment in parentheses"
        );
        assert_eq!(
            NonAscii.to_string(),
            "has characters outside plain ASCII (international addresses are not supported)"
        );
    }
}
