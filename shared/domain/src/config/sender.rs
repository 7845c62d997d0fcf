//! The address a shop's emails come from, parsed once when the config loads.

use crate::check_email_address;
use std::fmt;

/// `Name <address>` or a bare address, as a shop writes it in `sender`, or as the deployment
/// sets it for every shop (`SENDER_ADDRESS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: Option<String>,
    /// A plain `local@domain` ([`check_email_address`]), which SES must have verified.
    pub address: String,
}

impl Sender {
    /// Reads `Name <a@b.c>` (the name may be quoted) or `a@b.c`.
    pub fn parse(text: &str) -> Result<Sender, String> {
        let text = text.trim();
        let (name, address) = match text.split_once('<') {
            Some((name, rest)) => {
                let address = rest
                    .strip_suffix('>')
                    .ok_or("expected `Name <address@domain>` or an address")?;
                let name = name.trim().trim_matches('"').trim();
                ((!name.is_empty()).then(|| name.to_string()), address.trim())
            }
            None => (None, text),
        };
        check_email_address(address).map_err(|problem| {
            format!("expected `Name <address@domain>` or an address: the address {problem}")
        })?;
        if name
            .as_deref()
            .is_some_and(|n| n.contains(['<', '>', '\r', '\n']))
        {
            return Err("the name before <address> cannot hold <, > or a line break".into());
        }
        Ok(Sender {
            name,
            address: address.to_string(),
        })
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_a_name_and_an_address_or_an_address() {
        let named = Sender::parse(" \"Torrefazione Demo\" <ciao@demo.example> ").unwrap();
        assert_eq!(named.name.as_deref(), Some("Torrefazione Demo"));
        assert_eq!(named.address, "ciao@demo.example");
        assert_eq!(named.to_string(), "Torrefazione Demo <ciao@demo.example>");
        let bare = Sender::parse("ciao@demo.example").unwrap();
        assert_eq!((bare.name, bare.address.as_str()), (None, "ciao@demo.example"));
        for bad in [
            "not an address",
            "Demo <ciao@demo.example",
            "Demo <>",
            "Demo <a@b@c.example>",
            "De\nmo <ciao@demo.example>",
            "Demo <ciao @demo.example>",
        ] {
            assert!(Sender::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
