//! Text as the platforms send it, made plain once at ingest.
//!
//! WordPress stores product and variation names with HTML entities (`Ship Your Idea &ndash;
//! Color`, `Caf&eacute;`, `Tom &amp; Jerry`), and WooCommerce's REST payloads pass them on
//! as they are. Everything downstream (the text part of an email, the HTML part, which
//! escapes once, SMS) expects plain text, so names are decoded here, exactly once.

/// Decodes numeric (`&#8211;`, `&#x2013;`) and the named entities WordPress produces.
/// Anything that is not a known, well-formed entity is left exactly as written, so a stray
/// `&` in a name survives.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find(';').filter(|end| *end <= MAX_ENTITY) {
            Some(end) => match entity(&after[..end]) {
                Some(ch) => {
                    out.push(ch);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            },
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The longest entity name or number between `&` and `;` (`&#x10FFFF;`, `&thinsp;`).
const MAX_ENTITY: usize = 8;

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        // A control character or NUL is never part of a name.
        return char::from_u32(code).filter(|c| !c.is_control());
    }
    NAMED
        .iter()
        .find(|(entity, _)| *entity == name)
        .map(|(_, ch)| *ch)
}

/// The named entities `wptexturize`, `esc_html` and WooCommerce's own formatting emit, plus
/// the accented letters common in European shop names.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("prime", '′'),
    ("Prime", '″'),
    ("times", '×'),
    ("middot", '·'),
    ("bull", '•'),
    ("deg", '°'),
    ("euro", '€'),
    ("pound", '£'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("agrave", 'à'),
    ("aacute", 'á'),
    ("egrave", 'è'),
    ("eacute", 'é'),
    ("igrave", 'ì'),
    ("iacute", 'í'),
    ("ograve", 'ò'),
    ("oacute", 'ó'),
    ("ugrave", 'ù'),
    ("uacute", 'ú'),
    ("Agrave", 'À'),
    ("Egrave", 'È'),
    ("Eacute", 'É'),
    ("auml", 'ä'),
    ("ouml", 'ö'),
    ("uuml", 'ü'),
    ("szlig", 'ß'),
    ("ccedil", 'ç'),
    ("ntilde", 'ñ'),
];

#[cfg(test)]
mod tests {
    use super::decode_entities;

    #[test]
    fn wordpress_entities_become_plain_text() {
        assert_eq!(
            decode_entities("Ship Your Idea &ndash; Color"),
            "Ship Your Idea – Color"
        );
        assert_eq!(
            decode_entities("Ship Your Idea &#8211; Color"),
            "Ship Your Idea – Color"
        );
        assert_eq!(
            decode_entities("Ship Your Idea &#x2013; Color"),
            "Ship Your Idea – Color"
        );
        assert_eq!(decode_entities("Caf&eacute; &amp; Moka"), "Café & Moka");
        assert_eq!(decode_entities("Laura&#039;s"), "Laura's");
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(decode_entities("&amp;ndash;"), "&ndash;", "one layer only");
    }

    #[test]
    fn what_is_not_an_entity_is_left_alone() {
        for text in [
            "Salt & Pepper",
            "a &unknown; b",
            "50&",
            "&;",
            "&#;",
            "&#xZZ;",
            "&#0;",
            "&#1114112;",
            "R&D; dept",
            "no entities",
        ] {
            assert_eq!(decode_entities(text), text);
        }
    }
}
