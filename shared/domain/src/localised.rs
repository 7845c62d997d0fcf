//! Text a merchant writes in their config that customers read, in one language or several.

use crate::ConfigError;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One text for everyone (`title = "Ceramic dripper"`) or one per locale
/// (`title = { en = "Ceramic dripper", it = "Dripper in ceramica" }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LocalisedText {
    Same(String),
    /// Keys as written (`it`, `it-IT`); lookups ignore case and `_`/`-`.
    PerLocale(BTreeMap<String, String>),
}

impl LocalisedText {
    /// The text for a reader's locale: the exact locale (`it-ch`), then its language (`it`),
    /// then English, then the first one written. `None` only for an empty table, which
    /// [`LocalisedText::validate`] refuses.
    pub fn for_locale(&self, locale: &str) -> Option<&str> {
        let texts = match self {
            LocalisedText::Same(text) => return Some(text),
            LocalisedText::PerLocale(texts) => texts,
        };
        let wanted = normalise(locale);
        let language = wanted.split('-').next().unwrap_or_default().to_owned();
        let find = |target: &str| {
            texts
                .iter()
                .find(|(key, _)| normalise(key) == target)
                .map(|(_, text)| text.as_str())
        };
        find(&wanted)
            .or_else(|| find(&language))
            .or_else(|| find("en"))
            .or_else(|| texts.values().next().map(String::as_str))
    }

    /// Refuses blank texts, empty tables and keys that are not locales, naming `field`.
    pub fn validate(&self, field: &'static str) -> Result<(), ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid { field, problem };
        match self {
            LocalisedText::Same(text) if text.trim().is_empty() => Err(invalid("must not be blank".into())),
            LocalisedText::Same(_) => Ok(()),
            LocalisedText::PerLocale(texts) if texts.is_empty() => Err(invalid(
                "give a text, or at least one locale such as en = \"…\"".into(),
            )),
            LocalisedText::PerLocale(texts) => {
                for (locale, text) in texts {
                    let tag = !locale.is_empty()
                        && locale.split(['-', '_']).all(|piece| {
                            !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_alphanumeric())
                        });
                    if !tag {
                        return Err(invalid(format!("'{locale}' is not a locale such as en or it-IT")));
                    }
                    if text.trim().is_empty() {
                        return Err(invalid(format!("the '{locale}' text must not be blank")));
                    }
                }
                Ok(())
            }
        }
    }
}

fn normalise(locale: &str) -> String {
    locale.trim().replace('_', "-").to_ascii_lowercase()
}

/// Written by hand rather than `#[serde(untagged)]`, whose error ("did not match any variant")
/// tells a merchant nothing about what to write.
impl<'de> Deserialize<'de> for LocalisedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = LocalisedText;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a text, or one text per locale such as { en = "Ceramic dripper", it = "Dripper in ceramica" }"#)
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<LocalisedText, E> {
                Ok(LocalisedText::Same(text.to_owned()))
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<LocalisedText, M::Error> {
                let mut texts = BTreeMap::new();
                while let Some((locale, text)) = map.next_entry::<String, String>()? {
                    if texts.insert(locale.clone(), text).is_some() {
                        return Err(de::Error::custom(format!("locale '{locale}' is given twice")));
                    }
                }
                Ok(LocalisedText::PerLocale(texts))
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        title: LocalisedText,
    }

    fn parse(toml_text: &str) -> Result<LocalisedText, String> {
        toml::from_str::<Holder>(toml_text)
            .map(|h| h.title)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_single_text_serves_every_locale() {
        let title = parse(r#"title = "Ceramic dripper""#).unwrap();
        assert_eq!(title.for_locale("it"), Some("Ceramic dripper"));
        assert_eq!(title.for_locale("en-GB"), Some("Ceramic dripper"));
        assert_eq!(title.validate("t"), Ok(()));
    }

    #[test]
    fn a_table_picks_the_locale_then_its_language_then_english() {
        let title =
            parse(r#"title = { en = "Ceramic dripper", it = "Dripper in ceramica", it_CH = "Filtro" }"#)
                .unwrap();
        assert_eq!(title.validate("t"), Ok(()));
        assert_eq!(title.for_locale("it"), Some("Dripper in ceramica"));
        assert_eq!(title.for_locale("it-IT"), Some("Dripper in ceramica"));
        assert_eq!(title.for_locale("it-ch"), Some("Filtro"));
        assert_eq!(title.for_locale("en"), Some("Ceramic dripper"));
        assert_eq!(title.for_locale("fr"), Some("Ceramic dripper"));
        let italian_only = parse(r#"title = { it = "Dripper in ceramica" }"#).unwrap();
        assert_eq!(italian_only.for_locale("en"), Some("Dripper in ceramica"));
    }

    #[test]
    fn bad_titles_are_refused_with_what_to_write() {
        let err = parse("title = 3").unwrap_err();
        assert!(err.contains("one text per locale such as { en = "), "{err}");
        let err = parse(r#"title = { en = 3 }"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        for (text, problem) in [
            (r#"title = "  ""#, "must not be blank"),
            ("title = {}", "at least one locale"),
            (r#"title = { "e n" = "x" }"#, "'e n' is not a locale"),
            (r#"title = { it = "" }"#, "the 'it' text must not be blank"),
        ] {
            let err = parse(text)
                .unwrap()
                .validate("flows.replenishment.complements.title");
            let err = err.unwrap_err().to_string();
            assert!(
                err.starts_with("flows.replenishment.complements.title: ") && err.contains(problem),
                "{text}: {err}"
            );
        }
    }
}
